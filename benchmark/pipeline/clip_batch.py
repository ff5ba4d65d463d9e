"""Explain and score one batch of clips: the unit of work that ``stabn-bench run`` and ``stabn_bench.evaluate()``
share.

:func:`score_clip_batch` runs every named method on the batch and scores its explanation with every wanted
metric, one :class:`UnitResult` per name (the model-level metrics under ``MODEL_LEVEL``). It writes nothing:
the run turns each result into a shard file, the API into rows of its table. Everything a unit computes depends
on the batch, the settings and ``batch.seed`` alone, never on what ran before it in the process.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Collection, Iterator, Mapping, Optional, Sequence

import torch
from torch import nn

from stabn_bench import baselines
from stabn_bench.baselines.explanation import TargetKind
from stabn_bench.core import MODEL_LEVEL
from stabn_bench.metrics import model_order_sensitivity, reference_curves, score_explanations, selected_metrics
from stabn_bench.metrics.costs import Cost
from stabn_bench.metrics.scoring import make_engine
from stabn_bench.metrics.robustness import robustness_scores
from stabn_bench.metrics.sanity import cascading_randomisation, efficient_mprt, randomised_copy, smooth_mprt

from ..config.schema import ExplainConfig, MetricsConfig
from ..errors import StabnBenchError
from .shards import FAILED_STAGE
from .validity import tie_rescores

#: scored on the first ``metrics.sanity_clips`` clips of the first batch, per method
SANITY_METRICS = ("randomisation_spearman", "smooth_mprt", "efficient_mprt")
#: scored on the first ``metrics.robustness_clips`` clips of the first batch, per method
ROBUSTNESS_METRICS = ("max_sensitivity", "relative_input_stability")
#: what a method or metric may raise on a batch without stopping the others
UNIT_ERRORS = (baselines.MethodError, StabnBenchError, ValueError, RuntimeError)


@dataclass
class ClipBatchInputs:
    """One batch of clips and everything known about them.

    Attributes:
        clips: (N, C, T, H, W) on the model's device.
        targets: (N,) classes to explain; ``target_kind`` says whether they are labels or predictions.
        labels: (N,) true classes (the keep-top-k accuracy).
        clip_ids: N names.
        seed: seeds the methods' noise, tie-breaks and random orders of this batch.
        evidence: (N, T, H, W) ground-truth evidence masks, or None.
        window: (N, T) ground-truth action windows, or None.
        window_prior: (T,) probability that each frame lies in the action window, or None.
        first: True for the data set's first batch (the sanity and robustness metrics are scored on it).
    """

    clips: torch.Tensor
    targets: torch.Tensor
    labels: torch.Tensor
    clip_ids: Sequence[str]
    seed: int
    target_kind: TargetKind = "predicted"
    evidence: Optional[torch.Tensor] = None
    window: Optional[torch.Tensor] = None
    window_prior: Optional[torch.Tensor] = None
    first: bool = True

    @property
    def ground_truth(self) -> dict[str, torch.Tensor]:
        """What the methods may read (``baselines.explain``'s ``ground_truth``): only what is known."""
        truth = {"evidence": self.evidence, "action_window": self.window, "window_prior": self.window_prior}
        return {k: v for k, v in truth.items() if v is not None}


@dataclass
class UnitResult:
    """What one method (or ``MODEL_LEVEL``) gave on one clip batch.

    Attributes:
        values: metric -> (N,) values (the sanity and robustness metrics: (n,) for the first n clips).
        metric_failures: metric -> one-line reason, for plug-in metrics that failed (the others were scored).
        error: one-line reason when the whole unit failed (no values), else None.
        curves: curve name -> the batch's curves (``metrics.scoring.Curve``).
        temporal: (N, T) frame importance of the explanation (None for ``MODEL_LEVEL``).
        maps: (N, T, H, W) the explanation (None for ``MODEL_LEVEL``).
        tie_values: ``[(tie seed, {metric: (N,) values})]`` of the tie-break spread check, when asked for.
        seconds: time spent on the unit (explanation + scoring).
        inputs_scored / inputs_reused: perturbed inputs run through the model / answered by the engine's memo.
        costs: part of the work (``explain``, ``score/deletion``, ``ties/score/insertion``, ...) -> its
            :class:`~stabn_bench.metrics.costs.Cost`; the batch's shared reference curves are in the
            ``MODEL_LEVEL`` unit's (or, without one, the first unit's) costs under ``reference/...``.
    """

    name: str
    values: dict[str, torch.Tensor] = field(default_factory=dict)
    metric_failures: dict[str, str] = field(default_factory=dict)
    error: Optional[str] = None
    curves: dict = field(default_factory=dict)
    temporal: Optional[torch.Tensor] = None
    maps: Optional[torch.Tensor] = None
    tie_values: list = field(default_factory=list)
    seconds: float = 0.0
    inputs_scored: int = 0
    inputs_reused: int = 0
    costs: dict[str, Cost] = field(default_factory=dict)


    def score_rows(self, model: str, clip_ids: Sequence[str]) -> list[tuple[str, str, str, str, float]]:
        """``scores.csv`` rows ``(model, method, metric, clip_id, value)`` (the first n clips for the metrics
        scored on the first n)."""
        return [(model, self.name, metric, clip_id, float(value))
                for metric, per_clip in self.values.items() for clip_id, value in zip(clip_ids, per_clip.tolist())]

    def error_rows(self, model: str, clip_ids: Sequence[str]) -> list[tuple[str, str, str, str, str]]:
        """``errors.csv`` rows ``(model, method, clip_id, stage, reason)``: one per clip for a failed unit, and one
        per clip and failed plug-in metric."""
        texts = [] if self.error is None else [("score" if self.name == MODEL_LEVEL else FAILED_STAGE, self.error)]
        texts += [(FAILED_STAGE, text) for text in self.metric_failures.values()]
        return [(model, self.name, clip_id, stage, text) for stage, text in texts for clip_id in clip_ids]


def error_text(err: BaseException) -> str:
    """``Type: first line of the message``."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return f"{type(err).__name__}: {text}"


def score_clip_batch(
    model: nn.Module,
    batch: ClipBatchInputs,
    names: Sequence[str],
    metrics: MetricsConfig,
    explain: ExplainConfig,
    tie_methods: Collection[str] = (),
    cascade_layers: Optional[Sequence[str]] = None,
    raise_errors: bool = False,
) -> Iterator[UnitResult]:
    """Explain ``batch`` with each of ``names`` and score it; yield one :class:`UnitResult` per name, in order.

    Args:
        model: the classifier in eval mode; ``model(x).logits`` is (N, K).
        names: methods, and ``MODEL_LEVEL`` for the model-level metrics (random-order curves, order sensitivity).
        metrics: the ``metrics`` settings (which metrics, steps, substrate, ...).
        explain: the ``explain`` settings (``batch_size`` and per-method ``options``).
        tie_methods: methods whose scores are also recomputed under ``metrics.validity.tie_seeds`` tie-break
            seeds (the validity check's tie-break spread).
        cascade_layers: the layers the cascading randomisation test randomises (None: the model's top-level
            stages).
        raise_errors: re-raise a method's or metric's error instead of reporting it in the result.
    """
    wanted = set(selected_metrics(metrics))
    sanity = bool(wanted & set(SANITY_METRICS)) and metrics.sanity_clips > 0 and batch.first
    robust = bool(wanted & set(ROBUSTNESS_METRICS)) and metrics.robustness_clips > 0 and batch.first
    x, targets, seed = batch.clips, batch.targets, batch.seed
    truth = batch.ground_truth

    def forward(inputs: torch.Tensor) -> torch.Tensor:
        return model(inputs).logits

    engine = make_engine(forward, metrics)
    with engine.costs.part("reference"):
        reference = reference_curves(engine, x, targets, metrics, seed=seed)
    reference_costs = engine.costs.take()
    for position, name in enumerate(names):
        result = UnitResult(name)
        started = time.perf_counter()
        scored, reused = reference.engine.inputs_evaluated, reference.engine.inputs_reused
        try:
            if name == MODEL_LEVEL:
                with engine.costs.part("order sensitivity"):
                    result.values = model_order_sensitivity(reference, x, seed=seed, cfg=metrics,
                                                            labels=batch.labels, failures=result.metric_failures)
                result.curves = reference.curves  # the random-order reference curves, one per clip
            else:
                options = dict(explain.options.get(name, {}))
                with engine.costs.part("explain"):
                    explanation = baselines.explain(
                        name, model, x, targets, target_kind=batch.target_kind, seed=seed,
                        batch_size=explain.batch_size, ground_truth=truth, **options,
                    )
                score = functools.partial(  # everything but the tie-break seed
                    score_explanations,
                    reference.engine, x, explanation.spatiotemporal, explanation.temporal, targets, batch.labels,
                    metrics, evidence=batch.evidence, window=batch.window, random_curves=reference,
                    method=name, clip_ids=list(batch.clip_ids), native_shape=explanation.native_shape,
                    window_prior=batch.window_prior if batch.window is not None else None,
                )
                with engine.costs.part("score"):
                    scores = score(seed=seed)
                result.values, result.metric_failures, result.curves = dict(scores.values), scores.failures, scores.curves
                if name in tie_methods:
                    with engine.costs.part("ties"):
                        result.tie_values = tie_rescores(lambda s: score(seed=s).values, scores.values, seed,
                                                         metrics.validity.tie_seeds)
                if sanity:
                    n = min(metrics.sanity_clips, x.shape[0])
                    with engine.costs.part("sanity"):
                        result.values.update(sanity_scores(
                            model, name, x[:n], targets[:n], batch.target_kind, seed, explain.batch_size, options,
                            metrics, _first(truth, n), wanted, reference=explanation.spatiotemporal[:n],
                            cascade_layers=cascade_layers))
                if robust:
                    n = min(metrics.robustness_clips, x.shape[0])
                    with engine.costs.part("robustness"):
                        result.values.update(robustness_values(
                            model, name, x[:n], targets[:n], explanation.spatiotemporal[:n], batch.target_kind,
                            seed, explain.batch_size, options, metrics, _first(truth, n), wanted))
                result.temporal, result.maps = explanation.temporal, explanation.spatiotemporal
        except UNIT_ERRORS as err:
            if raise_errors:
                raise
            # the random-order reference curves stand whatever failed after them
            result = UnitResult(name, error=error_text(err), curves=reference.curves if name == MODEL_LEVEL else {})
        if raise_errors and result.metric_failures:
            raise StabnBenchError(next(iter(result.metric_failures.values())))
        result.seconds = time.perf_counter() - started
        result.inputs_scored = reference.engine.inputs_evaluated - scored
        result.inputs_reused = reference.engine.inputs_reused - reused
        result.costs = engine.costs.take()
        if name == MODEL_LEVEL or (position == 0 and MODEL_LEVEL not in names):
            result.costs.update(reference_costs)
        yield result


def _first(truth: Mapping[str, torch.Tensor], n: int) -> dict:
    """The ground truth of the first ``n`` clips (the placement prior is per frame, not per clip)."""
    return {k: (v if k == "window_prior" or v is None else v[:n]) for k, v in truth.items()}


def _repeat(ground_truth: Optional[Mapping[str, torch.Tensor]], times: int) -> Optional[dict]:
    """Ground truth of N clips for ``times`` stacked copies of them (rows ``s * N + i``)."""
    if ground_truth is None:
        return None
    return {k: (v if k == "window_prior" or v is None else v.repeat(times, *([1] * (v.dim() - 1))))
            for k, v in ground_truth.items()}


def sanity_scores(model: nn.Module, method: str, clips: torch.Tensor, targets: torch.Tensor, target_kind: TargetKind,
                  seed: int, batch_size: int, options: Mapping, metrics: MetricsConfig,
                  ground_truth: Optional[Mapping] = None, wanted: Optional[Collection[str]] = None,
                  reference: Optional[torch.Tensor] = None,
                  cascade_layers: Optional[Sequence[str]] = None) -> dict[str, torch.Tensor]:
    """The wanted randomisation tests (n,) of ``method`` on ``clips`` (n, C, T, H, W): ``randomisation_spearman``
    (cascading randomisation of a model copy), ``smooth_mprt`` and ``efficient_mprt`` (the fully randomised copy);
    ``reference``: the trained model's maps of ``clips`` where the caller has them (efficient MPRT reuses them)."""
    wanted = set(SANITY_METRICS) if wanted is None else set(wanted)

    def explain_fn(m: nn.Module, c: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        truth = _repeat(ground_truth, c.shape[0] // clips.shape[0])  # smooth MPRT explains stacked noisy copies
        return baselines.explain(method, m, c, t, target_kind=target_kind, seed=seed, batch_size=batch_size,
                                 ground_truth=truth, **options).spatiotemporal

    values: dict[str, torch.Tensor] = {}
    if "randomisation_spearman" in wanted:
        values["randomisation_spearman"] = cascading_randomisation(
            model, explain_fn, clips, targets, layers=None if cascade_layers is None else list(cascade_layers),
            seed=seed).score
    if {"smooth_mprt", "efficient_mprt"} & wanted:
        randomised = randomised_copy(model, seed=seed)
        if "smooth_mprt" in wanted:
            values["smooth_mprt"] = smooth_mprt(model, explain_fn, clips, targets, metrics.mprt_samples,
                                                metrics.mprt_noise, seed, randomised=randomised)
        if "efficient_mprt" in wanted:
            values["efficient_mprt"] = efficient_mprt(model, explain_fn, clips, targets, seed, reference=reference,
                                                      randomised=randomised)
    return values


def robustness_values(model: nn.Module, method: str, clips: torch.Tensor, targets: torch.Tensor, maps: torch.Tensor,
                      target_kind: TargetKind, seed: int, batch_size: int, options: Mapping, metrics: MetricsConfig,
                      ground_truth: Optional[Mapping] = None,
                      wanted: Optional[Collection[str]] = None) -> dict[str, torch.Tensor]:
    """The wanted robustness metrics (n,) of ``method`` on ``clips`` (:func:`metrics.robustness.robustness_scores`),
    for ImageNet-normalised clips.

    The perturbed copies are explained with another seed than the clips were (``seed + 1``): a method that draws
    at random (the ``random`` control) draws a new map, as it would on a new call."""
    from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD

    wanted = set(ROBUSTNESS_METRICS) if wanted is None else set(wanted)
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    samples = metrics.robustness_samples

    def explain_fn(c: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return baselines.explain(method, model, c, t, target_kind=target_kind, seed=seed + 1, batch_size=batch_size,
                                 ground_truth=_repeat(ground_truth, samples), **options).spatiotemporal

    values = robustness_scores(explain_fn, clips, targets, maps, samples, metrics.robustness_radius, seed,
                               scale=1 / std, low=-mean / std, high=(1 - mean) / std)
    return {name: value for name, value in values.items() if name in wanted}
