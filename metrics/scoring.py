"""The scorer the runner calls: every selected metric for one model, one method and a batch of clips.

Typical use, per model::

    engine = make_engine(lambda x: model(x).logits, cfg.metrics)          # model.eval() first
    reference = reference_curves(engine, clips, targets, cfg.metrics, seed)  # once per model and clips
    model_values = model_order_sensitivity(engine, clips, seed)              # model-level metrics
    for method in methods:
        result = score_explanations(engine, clips, maps, temporal, targets, labels, cfg.metrics,
                                    evidence=evidence, window=window, seed=seed, random_curves=reference,
                                    method=name, clip_ids=clip_ids)
        result.values["deletion_auc"]  # (N,)
        result.curves["deletion"]      # Curves(fractions (N, S), scores (N, S))

The random-order curves and the curve ends (clean clip, fully substituted clip) do not depend on the method:
:func:`reference_curves` computes them once and every method pays only for its own orderings.
Metric names and directions are those of :mod:`stabn_bench.metrics.catalog`, generated from the metric registry.
The scorer computes the curve-based scores declared in :mod:`stabn_bench.metrics.builtin` (deletion / insertion,
frame curves, keep-top-k, frame-order sensitivity) and every registered metric that is a function of named inputs,
built in or plug-in, the same way (:func:`stabn_bench.metrics.registry.compute_metrics`). A selected metric whose
inputs are missing (no evidence masks or windows) is skipped, not faked.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import torch

from . import faithfulness, localisation, temporal as temporal_tests
from . import registry
from .catalog import METRICS, selectable_metric_names
from .registry import ceiling_name, granularity_variant
from .engine import Curves, Endpoints, ForwardFn, PerturbationEngine
from .ordering import check_finite
from .settings import MetricsConfig

#: metrics that :func:`score_explanations` does not compute (they need the model or are model-level)
MODEL_LEVEL = ("shuffle_prediction_change", "reverse_prediction_change")
NEEDS_MODEL = ("randomisation_spearman", "smooth_mprt", "efficient_mprt", "max_sensitivity", "relative_input_stability")
#: the scores this module derives from the deletion / insertion curves of the map (at every configured granularity)
MAP_CURVE_METRICS = ("deletion_auc", "insertion_auc", "deletion_auc_vs_random", "insertion_auc_vs_random", "lerf_minus_morf")


@dataclass
class ScoreResult:
    """Per-clip values and curves of one method on N clips.

    Attributes:
        values: metric name -> (N,) float64 (NaN where undefined for a clip, see :mod:`stabn_bench.metrics.localisation`).
        curves: curve name (:data:`metrics.catalog.CURVES`) -> Curves (fractions (N, S), scores (N, S)).
    """

    values: dict[str, torch.Tensor] = field(default_factory=dict)
    curves: dict[str, Curves] = field(default_factory=dict)
    #: plug-in metrics that raised or returned a wrong value: name -> one line (the others are in ``values``)
    failures: dict[str, str] = field(default_factory=dict)


@dataclass
class ReferenceCurves:
    """What every method of one model shares on the same clips and targets.

    Attributes:
        engine: the perturbation engine of the model (batch size already tuned).
        targets: (N,) the targets the curves were computed for.
        endpoints: substrate -> probabilities of the clean and fully substituted clips.
        curves: random-order curves by name (``deletion_random``, ``frame_insertion_random``, ...).
    """

    engine: PerturbationEngine
    targets: torch.Tensor
    endpoints: dict[str, Endpoints] = field(default_factory=dict)
    curves: dict[str, Curves] = field(default_factory=dict)

    def auc(self, name: str) -> torch.Tensor:
        return self.curves[name].auc()


def selected_metrics(cfg: MetricsConfig) -> list[str]:
    """The metric names a config asks for, with the per-granularity variants of its extra granularities."""
    base = selectable_metric_names() if "all" in cfg.metrics else [m for m in selectable_metric_names() if m in cfg.metrics]
    names = list(base)
    per_granularity = registry.configured_granularity_names()
    for granularity in cfg.granularities[1:]:
        names += [granularity_variant(name, granularity) for name in per_granularity if name in base]
    return names


def _plugin_inputs(engine: PerturbationEngine, clips: torch.Tensor, cfg: MetricsConfig, seed: int, **named) -> dict:
    """The inputs a registered metric may ask for (:data:`metrics.registry.INPUTS`); None where not available."""
    def model(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return engine._logits(x.to(engine._device_for(x)))

    return {"model": model, "clips": clips, "engine": engine, "seed": seed, "config": cfg, **named}


def make_engine(forward_fn: Union[ForwardFn, PerturbationEngine], cfg: Optional[MetricsConfig], device: Optional[torch.device] = None) -> PerturbationEngine:
    """A :class:`PerturbationEngine` with the config's budget and substrate settings (an engine is returned as is;
    no config: the engine's defaults, which are the config's)."""
    if isinstance(forward_fn, PerturbationEngine):
        return forward_fn
    if cfg is None:
        return PerturbationEngine(forward_fn, device=device)
    return PerturbationEngine(
        forward_fn, device=device, memory_budget_mb=cfg.memory_budget_mb,
        batch_size=cfg.batch_size, max_batch_size=cfg.max_batch_size, blur_sigma=cfg.blur_sigma,
        road_noise=cfg.road_noise,
    )


def reference_curves(
    forward_fn: Union[ForwardFn, PerturbationEngine],
    clips: torch.Tensor,
    targets: torch.Tensor,
    cfg: MetricsConfig,
    seed: int = 0,
) -> ReferenceCurves:
    """Curve ends and random-order curves for the selected metrics (once per model and clips).

    Args:
        clips: (N, C, T, H, W); targets: (N,) int64.
    """
    engine = make_engine(forward_fn, cfg)
    wanted = set(selected_metrics(cfg))
    reference = ReferenceCurves(engine, targets.cpu().clone())
    with engine.costs.part("endpoints"):
        if _needs_map_curves(wanted, cfg):
            reference.endpoints[cfg.substrate] = engine.endpoints(clips, targets, cfg.substrate)
        if _needs_frame_curves(wanted) and cfg.temporal_substrate not in reference.endpoints:
            reference.endpoints[cfg.temporal_substrate] = engine.endpoints(clips, targets, cfg.temporal_substrate)
    random_seed = seed + 1  # the random order has its own stream, independent of the tie-breaks
    for granularity, suffix in _granularity_suffixes(cfg):
        for mode in ("deletion", "insertion"):
            if f"{mode}_auc_vs_random{suffix}" in wanted:
                with engine.costs.part(f"{mode}_random{suffix}"):
                    reference.curves[f"{mode}_random{suffix}"] = faithfulness.random_order_curves(
                        engine, clips, targets, mode=mode, granularity=granularity, substrate=cfg.substrate,
                        steps=cfg.steps, tube_size=cfg.tube_size, seed=random_seed,
                        endpoints=reference.endpoints[cfg.substrate],
                    )
    n, _, t = clips.shape[:3]
    for mode in ("deletion", "insertion"):
        if f"frame_{mode}_auc_vs_random" in wanted:
            with engine.costs.part(f"frame_{mode}_random"):
                reference.curves[f"frame_{mode}_random"] = temporal_tests.frame_curves(
                    engine, clips, torch.zeros(n, t), targets, mode=mode, order="random",
                    substrate=cfg.temporal_substrate, steps=cfg.steps, seed=random_seed, tie_orders=cfg.frame_tie_orders,
                    endpoints=reference.endpoints[cfg.temporal_substrate],
                )
    return reference


def score_explanations(
    forward_fn: Union[ForwardFn, PerturbationEngine],
    clips: torch.Tensor,
    maps: torch.Tensor,
    temporal: torch.Tensor,
    targets: torch.Tensor,
    labels: torch.Tensor,
    cfg: MetricsConfig,
    evidence: Optional[torch.Tensor] = None,
    window: Optional[torch.Tensor] = None,
    seed: int = 0,
    random_curves: Optional[ReferenceCurves] = None,
    method: str = "explanation",
    clip_ids: Optional[Sequence[str]] = None,
    native_shape: Optional[Sequence[int]] = None,
    window_prior: Optional[torch.Tensor] = None,
) -> ScoreResult:
    """Every selected explanation metric of one method on N clips.

    Args:
        forward_fn: logits of the explained model (in eval mode), or its engine.
        clips: (N, C, T, H, W) ImageNet-normalised clips.
        maps: (N, T, H, W) spatio-temporal explanation; temporal: (N, T) per-frame importance.
        targets: (N,) explained class; labels: (N,) true class (keep-top-k accuracy).
        evidence: (N, T, H, W) ground-truth mask or None; window: (N, T) action window or None.
        seed: seeds the tie-breaks (and, through :func:`reference_curves`, the random order).
        random_curves: the model's :class:`ReferenceCurves` on the same clips and targets (computed if None);
            its engine is reused unless ``forward_fn`` is itself an engine.
        method, clip_ids: only for error messages (a NaN or inf in a map names both).
        native_shape: (T', h, w) of the method's raw map before upsampling (``Explanation.native_shape``), for the
            native pointing game and the localisation ceilings; None = the input's (T, H, W).
        window_prior: (T,) or (N, T) placement prior (probability that a frame lies in the window), for
            ``temporal_auroc_vs_prior``; None skips that metric.
    Raises:
        DataError: a map holds NaN or inf.
    """
    check_finite(maps, method, clip_ids)
    check_finite(temporal, method, clip_ids)
    n, _, t, h, w = clips.shape
    if maps.shape != (n, t, h, w) or temporal.shape != (n, t):
        raise ValueError(
            f"method '{method}': maps must be (N, T, H, W) = {(n, t, h, w)} and temporal (N, T) = {(n, t)}, "
            f"got {tuple(maps.shape)} and {tuple(temporal.shape)}"
        )
    reference = random_curves if random_curves is not None else reference_curves(forward_fn, clips, targets, cfg, seed)
    if not torch.equal(reference.targets, targets.cpu()):
        raise ValueError("random_curves were computed for other targets than the ones scored; compute them per model and target set")
    engine = forward_fn if isinstance(forward_fn, PerturbationEngine) else reference.engine
    wanted = set(selected_metrics(cfg))
    result = ScoreResult()
    maps = maps.detach().float().cpu()
    temporal = temporal.detach().float().cpu()

    for granularity, suffix in _granularity_suffixes(cfg):
        _score_map_curves(engine, clips, maps, targets, cfg, seed, granularity, suffix, wanted, reference, result)
    _score_frame_curves(engine, clips, temporal, targets, labels, cfg, seed, wanted, reference, result)

    if evidence is not None:
        evidence = evidence.detach().float().cpu()
    if native_shape is None:  # the method's raw map was at input resolution
        native_shape = (t, h, w)
    ceiling_inputs = None
    if any(ceiling_name(spec.name) in wanted for spec in registry.metric_specs() if spec.ceiling):
        ceiling_inputs = {  # a perfect map at the method's native resolution
            "map": None if evidence is None else localisation.native_oracle_map(evidence, native_shape),
            "temporal": None if window is None else localisation.native_temporal_profile(window.detach().float().cpu(),
                                                                                         native_shape[0]),
        }
    with engine.costs.part("registered metrics"):
        result.values.update(registry.compute_metrics(
            wanted, _plugin_inputs(engine, clips, cfg, seed, map=maps, temporal=temporal, mask=evidence,
                                   window=None if window is None else window.detach().cpu(), targets=targets,
                                   labels=labels, window_prior=window_prior, native_shape=tuple(native_shape)),
            cfg.granularities, cfg.tube_size, model_level=False, failures=result.failures,
            ceiling_inputs=ceiling_inputs,
        ))
    result.values = {name: value.double().cpu() for name, value in result.values.items()}
    unknown = set(result.values) - set(METRICS)
    assert not unknown, f"metric names missing from the catalog: {unknown}"
    return result


def model_order_sensitivity(
    forward_fn: Union[ForwardFn, PerturbationEngine, ReferenceCurves],
    clips: torch.Tensor,
    seed: int = 0,
    cfg: Optional[MetricsConfig] = None,
    labels: Optional[torch.Tensor] = None,
    failures: Optional[dict[str, str]] = None,
) -> dict[str, torch.Tensor]:
    """The model-level metrics (method ``-``): frame-order sensitivity, ``shuffle_prediction_change`` and
    ``reverse_prediction_change``, (N,) float64 1.0 where the prediction changes (see
    :func:`metrics.temporal.order_sensitivity`), plus the selected model-level plug-in metrics.

    ``labels`` (N,) are handed to plug-in metrics that need them; the targets are those of a
    :class:`ReferenceCurves` given as ``forward_fn``. ``failures``: when given, a plug-in metric that fails is
    entered there (name -> reason) and the others are still computed; else it raises.
    """
    targets = None
    if isinstance(forward_fn, ReferenceCurves):
        targets = forward_fn.targets
        forward_fn = forward_fn.engine
    engine = make_engine(forward_fn, cfg)
    wanted = set(selected_metrics(cfg)) if cfg is not None else set(MODEL_LEVEL)
    values: dict[str, torch.Tensor] = {}
    if wanted & set(MODEL_LEVEL):
        values = {name: value.double() for name, value in temporal_tests.order_sensitivity(engine, clips, seed).items()
                  if name in wanted}
    if cfg is not None:
        values.update(registry.compute_metrics(
            wanted, _plugin_inputs(engine, clips, cfg, seed, targets=targets, labels=labels),
            cfg.granularities, cfg.tube_size, model_level=True, failures=failures,
        ))
    return values


# ---------------------------------------------------------------------- internals


def _granularity_suffixes(cfg: MetricsConfig) -> list[tuple[str, str]]:
    return [(g, "" if i == 0 else f"_{g}") for i, g in enumerate(cfg.granularities)]


def _needs_map_curves(wanted: set[str], cfg: MetricsConfig) -> bool:
    return any(f"{name}{suffix}" in wanted for name in MAP_CURVE_METRICS for _, suffix in _granularity_suffixes(cfg))


def _needs_frame_curves(wanted: set[str]) -> bool:
    return bool(wanted & {"frame_deletion_auc", "frame_insertion_auc", "frame_deletion_auc_vs_random", "frame_insertion_auc_vs_random"})


def _score_map_curves(engine, clips, maps, targets, cfg, seed, granularity, suffix, wanted, reference, result) -> None:
    def need(*names: str) -> bool:
        return any(f"{name}{suffix}" in wanted for name in names)

    def curve(mode: str, order: str) -> Curves:
        with engine.costs.part(f"{mode}{'_lerf' if order == 'lerf' else ''}{suffix}"):
            return faithfulness.map_curves(
                engine, clips, maps, targets, mode=mode, order=order, granularity=granularity,
                substrate=cfg.substrate, steps=cfg.steps, tube_size=cfg.tube_size, seed=seed,
                endpoints=reference.endpoints.get(cfg.substrate),
            )

    if need("deletion_auc", "deletion_auc_vs_random", "lerf_minus_morf"):
        result.curves[f"deletion{suffix}"] = deletion = curve("deletion", "morf")
        deletion_auc = deletion.auc()
        if need("deletion_auc"):
            result.values[f"deletion_auc{suffix}"] = deletion_auc
        if need("deletion_auc_vs_random"):
            random_auc = reference.auc(f"deletion_random{suffix}")
            result.values[f"deletion_auc_vs_random{suffix}"] = faithfulness.auc_vs_random(deletion_auc, random_auc)
        if need("lerf_minus_morf"):
            result.curves[f"deletion_lerf{suffix}"] = lerf = curve("deletion", "lerf")
            result.values[f"lerf_minus_morf{suffix}"] = faithfulness.lerf_minus_morf(lerf.auc(), deletion_auc)
    if need("insertion_auc", "insertion_auc_vs_random"):
        result.curves[f"insertion{suffix}"] = insertion = curve("insertion", "morf")
        insertion_auc = insertion.auc()
        if need("insertion_auc"):
            result.values[f"insertion_auc{suffix}"] = insertion_auc
        if need("insertion_auc_vs_random"):
            random_auc = reference.auc(f"insertion_random{suffix}")
            result.values[f"insertion_auc_vs_random{suffix}"] = faithfulness.auc_vs_random(insertion_auc, random_auc)


def _score_frame_curves(engine, clips, temporal, targets, labels, cfg, seed, wanted, reference, result) -> None:
    for mode in ("deletion", "insertion"):
        name = f"frame_{mode}_auc"
        if {name, f"{name}_vs_random"} & wanted:
            with engine.costs.part(f"frame_{mode}"):
                result.curves[f"frame_{mode}"] = curves = temporal_tests.frame_curves(
                    engine, clips, temporal, targets, mode=mode, order="morf", substrate=cfg.temporal_substrate,
                    steps=cfg.steps, seed=seed, tie_orders=cfg.frame_tie_orders,
                    endpoints=reference.endpoints.get(cfg.temporal_substrate),
                )
            auc = curves.auc()
            if name in wanted:
                result.values[name] = auc
            if f"{name}_vs_random" in wanted:
                result.values[f"{name}_vs_random"] = faithfulness.auc_vs_random(auc, reference.auc(f"frame_{mode}_random"))
    if {"keep_top_k_accuracy", "keep_top_k_probability"} & wanted:
        k = temporal_tests.keep_count(clips.shape[2], cfg.keep_fraction)
        with engine.costs.part("keep_top_k"):
            kept = temporal_tests.keep_top_k_frames(
                engine, clips, temporal, targets, labels, k, substrate=cfg.temporal_substrate, seed=seed,
                tie_orders=cfg.frame_tie_orders,
            )
        result.values.update({name: value for name, value in kept.items() if name in wanted})
