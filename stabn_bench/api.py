"""The Python entry point for any video classifier: explain it with the registered methods and score the
explanations with the registered metrics, the same engine, registry and statistics as ``stabn-bench run``.

::

    import stabn_bench
    scores = stabn_bench.evaluate(model, clips, targets, methods=["saliency", "gradcam"],
                                  metrics=["deletion_auc", "insertion_auc"])
    stabn_bench.summarise(scores)          # mean and 95% bootstrap CI per model x method x metric

``model`` is any ``nn.Module`` mapping clips (N, C, T, H, W) to logits (N, K), or to an object with ``.logits``.
The result is the long table of ``scores.csv``: ``model, method, metric, clip_id, value``.
"""
from __future__ import annotations

import warnings
from typing import Any, Mapping, Optional, Sequence, Union

import pandas as pd
import torch
from torch import nn

from stabn_bench import baselines
from stabn_bench.benchmark.config import ConfigError, to_dict
from stabn_bench.benchmark.config.loader import _build
from stabn_bench.benchmark.config.names import check_method_names, check_metric_names
from stabn_bench.benchmark.config.schema import ExplainConfig, MetricsConfig
from stabn_bench.core import MODEL_LEVEL, RESULT_COLUMNS, VideoModelOutput
from stabn_bench.metrics import model_order_sensitivity, reference_curves, score_explanations, selected_metrics
from stabn_bench.metrics.sanity import cascade_layer_names, cascading_randomisation

#: columns of the table :func:`evaluate` returns (those of ``scores.csv``)
SCORE_COLUMNS = RESULT_COLUMNS["scores"]
#: columns of the failures in ``evaluate(...).attrs["errors"]`` (those of ``errors.csv``)
ERROR_COLUMNS = RESULT_COLUMNS["errors"]
#: the architecture name an outside model gets: only methods registered for ``models="all"`` apply to it
EXTERNAL_ARCH = "external"


class AnyVideoModel(nn.Module):
    """Wraps a classifier so that it looks like the project's models: ``forward`` returns a
    :class:`VideoModelOutput` and ``gradcam_layer`` names the module Grad-CAM weighs.

    Args:
        model: maps (N, C, T, H, W) to logits (N, K), or to an object with a ``.logits`` attribute.
        gradcam_layer: the module whose (N, C', T', h, w) output Grad-CAM uses; None = the last direct child of
            ``model`` with a 5-D output larger than 1x1x1 (found by one forward pass on ``example``).
        example: clips for that forward pass.
    """

    arch = EXTERNAL_ARCH

    def __init__(self, model: nn.Module, gradcam_layer: Optional[nn.Module] = None,
                 example: Optional[torch.Tensor] = None):
        super().__init__()
        self.model = model
        if gradcam_layer is None and example is not None:
            gradcam_layer = find_gradcam_layer(model, example)
        # kept out of the module tree: it is already a sub-module of ``model`` (no double registration)
        self.__dict__["gradcam_layer"] = gradcam_layer

    def forward(self, clips: torch.Tensor) -> VideoModelOutput:
        out = self.model(clips)
        logits = out.logits if hasattr(out, "logits") else out
        if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
            shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise ValueError(f"the model must return logits (N, K) or an object with .logits; got {shape}")
        return VideoModelOutput(logits=logits)


@torch.no_grad()
def find_gradcam_layer(model: nn.Module, example: torch.Tensor) -> Optional[nn.Module]:
    """The last direct child of ``model`` (in execution order) whose output is (N, C, T, h, w) with T*h*w > 1."""
    seen: list[nn.Module] = []

    def hook(module: nn.Module, _inputs: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor) and output.dim() == 5 and output.shape[2:].numel() > 1:
            seen.append(module)

    handles = [child.register_forward_hook(hook) for child in model.children()]
    was_training = model.training
    try:
        model.eval()
        model(example[:1])
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return seen[-1] if seen else None


def _as_video_model(model: nn.Module, clips: torch.Tensor, gradcam_layer: Optional[nn.Module]) -> nn.Module:
    """The project's own models are used as they are; anything else is wrapped in :class:`AnyVideoModel`."""
    if getattr(model, "arch", None) in ("baseline", "abn", "stabn") and gradcam_layer is None:
        return model
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    return AnyVideoModel(model, gradcam_layer, example=clips[:1].to(device))


def _metrics_config(metrics: Sequence[str], settings: Union[MetricsConfig, Mapping[str, Any], None]) -> MetricsConfig:
    if isinstance(settings, MetricsConfig):
        tree = to_dict(settings)
    else:
        tree = {**to_dict(MetricsConfig()), **dict(settings or {})}
    tree["metrics"] = list(metrics)
    return _build(MetricsConfig, tree, prefix="metrics.")  # validates, loads metrics_module, checks names


def evaluate(
    model: nn.Module,
    clips: torch.Tensor,
    targets: Optional[torch.Tensor] = None,
    methods: Sequence[str] = ("all",),
    metrics: Sequence[str] = ("all",),
    masks: Optional[torch.Tensor] = None,
    windows: Optional[torch.Tensor] = None,
    labels: Optional[torch.Tensor] = None,
    clip_ids: Optional[Sequence[str]] = None,
    model_name: Optional[str] = None,
    options: Optional[Mapping[str, Mapping[str, Any]]] = None,
    batch_size: int = 8,
    seed: int = 0,
    settings: Union[MetricsConfig, Mapping[str, Any], None] = None,
    gradcam_layer: Optional[nn.Module] = None,
    errors: str = "warn",
) -> pd.DataFrame:
    """Explain ``model`` on ``clips`` with every method and score every explanation with every metric.

    Args:
        model: any ``nn.Module`` mapping (N, C, T, H, W) to logits (N, K) (or to an object with ``.logits``);
            it is run in eval mode on its own device (its mode is restored afterwards).
        clips: (N, C, T, H, W) float clips, normalised as the model expects (the ``zero`` substrate and
            references are the all-zero clip, i.e. the mean colour for ImageNet-normalised clips).
        targets: (N,) classes to explain; None = the model's predictions (as ``explain.target=predicted``).
        methods: registered method names or ``all`` (every method that applies to any model: ``models="all"``).
        metrics: metric names (built in or plug-in) or ``all``; a metric whose inputs are missing is skipped.
        masks: (N, T, H, W) ground-truth evidence masks (localisation metrics), or None.
        windows: (N, T) ground-truth action windows (``temporal_auroc``), or None.
        labels: (N,) true classes for the keep-top-k accuracy; default ``targets`` (or the predictions).
        clip_ids: names of the clips in the table; default ``"0"``, ``"1"``, ...
        model_name: the ``model`` column; default the model's ``arch`` or its class name.
        options: per-method options, ``{"integrated-gradients": {"n_steps": 32}}`` (unknown ones raise).
        batch_size: clips per batch (the shared ``batch_size`` option of every method, and the clip batches).
        seed: seeds tie-breaks, random orders and the methods' noise, as ``seed`` in a run's config.
        settings: the ``metrics`` section of a run config (a :class:`MetricsConfig` or a mapping of its keys,
            e.g. ``{"steps": 8, "substrate": "zero", "metrics_module": "my_metrics.py"}``).
        gradcam_layer: the module Grad-CAM weighs; default the last 5-D stage of the model (see
            :func:`find_gradcam_layer`).
        errors: ``warn`` (a method that fails is left out, with a warning and a row in ``.attrs["errors"]``) or
            ``raise``.

    Returns:
        The long table ``model, method, metric, clip_id, value`` (one row per value; model-level metrics carry
        the method ``-``), as in ``scores.csv``; ``.attrs["errors"]`` holds the failures (``errors.csv`` columns).

    Raises:
        ConfigError: an unknown method, option, metric or setting (before any work).
    """
    if errors not in ("warn", "raise"):
        raise ValueError(f"errors must be 'warn' or 'raise', got {errors!r}")
    if not isinstance(clips, torch.Tensor) or clips.dim() != 5 or not clips.is_floating_point():
        raise ValueError(f"clips must be a float tensor (N, C, T, H, W); got {getattr(clips, 'shape', type(clips))}")
    n = clips.shape[0]
    options = {name: dict(opts) for name, opts in (options or {}).items()}
    check_method_names(_build(ExplainConfig, {"methods": list(methods), "options": options, "batch_size": batch_size},
                              prefix="explain."))
    cfg = _metrics_config(metrics, settings)
    check_metric_names(cfg)
    clip_ids = [str(c) for c in clip_ids] if clip_ids is not None else [str(i) for i in range(n)]
    if len(clip_ids) != n:
        raise ValueError(f"got {len(clip_ids)} clip_ids for {n} clips")
    expected = {"targets": (n,), "labels": (n,), "masks": (n, *clips.shape[2:]), "windows": (n, clips.shape[2])}
    given = {"targets": targets, "labels": labels, "masks": masks, "windows": windows}
    for name, value in given.items():
        if value is not None and tuple(torch.as_tensor(value).shape) != expected[name]:
            raise ValueError(f"{name} must have shape {expected[name]} for clips {tuple(clips.shape)}; "
                             f"got {tuple(torch.as_tensor(value).shape)}")

    video_model = _as_video_model(model, clips, gradcam_layer)
    name_of_model = model_name or getattr(model, "arch", None) or type(model).__name__
    arch = getattr(video_model, "arch", EXTERNAL_ARCH)
    chosen = baselines.select_methods(methods, arch)
    wanted = set(selected_metrics(cfg))
    device = next((p.device for p in video_model.parameters()), torch.device("cpu"))
    rows: list[tuple] = []
    failures: list[tuple] = []
    was_training = video_model.training
    video_model.eval()

    def forward(x: torch.Tensor) -> VideoModelOutput:
        return video_model(x)

    try:
        for batch, begin in enumerate(range(0, n, batch_size)):
            part = slice(begin, begin + batch_size)
            ids = clip_ids[part]
            x = clips[part].to(device)
            batch_seed = seed * 1000 + batch
            if targets is None:
                explained = baselines.predicted_classes(video_model, x)
                kind = "predicted"
            else:
                explained = torch.as_tensor(targets[part]).long().cpu()
                kind = "label"
            true = torch.as_tensor(labels[part]).long().cpu() if labels is not None else explained
            evidence = None if masks is None else torch.as_tensor(masks[part]).float()
            window = None if windows is None else torch.as_tensor(windows[part]).float()
            reference = reference_curves(forward, x, explained, cfg, seed=batch_seed)
            values = model_order_sensitivity(reference, x, seed=batch_seed, cfg=cfg, labels=true)
            rows += _rows(name_of_model, MODEL_LEVEL, ids, values)
            for method in chosen:
                try:
                    explanation = baselines.explain(method, video_model, x, explained, target_kind=kind,
                                                    seed=batch_seed, batch_size=batch_size, **options.get(method, {}))
                    result = score_explanations(
                        reference.engine, x, explanation.spatiotemporal, explanation.temporal, explained, true, cfg,
                        evidence=evidence, window=window, seed=batch_seed, random_curves=reference, method=method,
                        clip_ids=ids,
                    )
                    rows += _rows(name_of_model, method, ids, result.values)
                    if "randomisation_spearman" in wanted and batch == 0 and cfg.sanity_clips > 0:
                        k = min(cfg.sanity_clips, len(ids))
                        score = _sanity(video_model, method, x[:k], explained[:k], kind, batch_seed, batch_size,
                                        options.get(method, {}))
                        rows += _rows(name_of_model, method, ids[:k], {"randomisation_spearman": score})
                except (baselines.MethodError, ValueError, RuntimeError) as err:
                    if errors == "raise":
                        raise
                    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                    warnings.warn(f"{method} failed on clips {ids[0]}..{ids[-1]}: {text}", stacklevel=2)
                    failures += [(name_of_model, method, clip_id, "explain+score", text) for clip_id in ids]
    finally:
        video_model.train(was_training)
    table = pd.DataFrame.from_records(rows, columns=SCORE_COLUMNS)
    table.attrs["errors"] = pd.DataFrame.from_records(failures, columns=ERROR_COLUMNS)
    return table


def _rows(model: str, method: str, clip_ids: Sequence[str], values: Mapping[str, torch.Tensor]) -> list[tuple]:
    return [(model, method, metric, clip_id, float(v))
            for metric, per_clip in values.items() for clip_id, v in zip(clip_ids, per_clip.tolist())]


def _sanity(model: nn.Module, method: str, clips: torch.Tensor, targets: torch.Tensor, kind: str, seed: int,
            batch_size: int, options: Mapping[str, Any]) -> torch.Tensor:
    """``randomisation_spearman`` (N,): cascading randomisation of the (inner) model's top-level stages."""

    def explain_fn(m: nn.Module, c: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return baselines.explain(method, m, c, t, target_kind=kind, seed=seed, batch_size=batch_size,
                                 **options).spatiotemporal

    layers = None
    if isinstance(model, AnyVideoModel):
        layers = [f"model.{name}" for name in cascade_layer_names(model.model)]
    return cascading_randomisation(model, explain_fn, clips, targets, layers=layers, seed=seed).score


def summarise(scores: pd.DataFrame, confidence: float = 0.95, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Mean and bootstrap confidence interval (BCa, ``scipy.stats.bootstrap``) per model x method x metric of a
    long score table (:func:`evaluate`'s result or a ``scores.csv``): the numbers of ``summary.csv``."""
    from stabn_bench.benchmark.report.tables import summary_table

    return summary_table(scores, confidence, n_resamples, seed)


def paired_tests(scores: pd.DataFrame) -> pd.DataFrame:
    """Wilcoxon signed-rank tests between every pair of methods, Holm-corrected per model and metric (the
    numbers of ``paired_tests.csv``)."""
    from stabn_bench.metrics.statistics import all_paired_tests

    return all_paired_tests(scores, MODEL_LEVEL)


__all__ = ["AnyVideoModel", "ConfigError", "evaluate", "find_gradcam_layer", "paired_tests", "summarise"]
