"""The explain-and-score stage: every applicable method on the test clips of one model, scored by every metric.

Work is cut into (model, method, clip batch) units. Each unit's rows go to one shard file
(:mod:`stabn_bench.benchmark.pipeline.shards`) once the unit is finished, so a killed run recomputes nothing that was done;
under ``torchrun`` the clip batches are dealt out across the ranks. A method that fails on a batch is recorded in
``errors.csv`` with its reason, and the run goes on with the others.
"""
from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from stabn_bench import baselines
from stabn_bench.metrics import model_order_sensitivity, reference_curves, score_explanations, selected_metrics
from stabn_bench.metrics.robustness import robustness_scores
from stabn_bench.metrics.sanity import cascading_randomisation, efficient_mprt, randomised_copy, smooth_mprt

from stabn_bench.core import MODEL_LEVEL

from .. import distributed
from ..config import RunConfig
from ..data import collate_clips
from ..errors import StabnBenchError
from .shards import FAILED_STAGE, Shard, ShardStore
from .validity import tie_rescores, wants_tie_rescore

log = logging.getLogger("stabn_bench.pipeline")

#: scored on the first metrics.sanity_clips clips / metrics.robustness_clips clips of each model, per method
SANITY_METRICS = ("randomisation_spearman", "smooth_mprt", "efficient_mprt")
ROBUSTNESS_METRICS = ("max_sensitivity", "relative_input_stability")


@dataclass
class ClipBatches:
    """The explained clips of a data set, cut into fixed batches (the same on every run and every rank).

    Attributes:
        indices: data set indices per batch; batch b holds indices[b].
    """

    dataset: torch.utils.data.Dataset
    indices: list[list[int]] = field(default_factory=list)

    @classmethod
    def first(cls, dataset, num_clips: int, batch_size: int) -> "ClipBatches":
        count = min(num_clips, len(dataset))
        order = list(range(count))
        return cls(dataset, [order[i:i + batch_size] for i in range(0, count, batch_size)])

    def load(self, batch: int) -> dict:
        return collate_clips([self.dataset[i] for i in self.indices[batch]])


def _error_text(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return f"{type(err).__name__}: {text}"


def methods_for(model: nn.Module, requested: Sequence[str]) -> list[str]:
    """The methods to run on ``model``: every applicable one for ``all``, else the named ones that apply."""
    arch = getattr(model, "arch", None)
    applicable = baselines.available_methods(arch)
    if "all" in requested:
        return applicable
    for name in requested:
        baselines.get_method(name)  # unknown names: an error listing the known ones
    return [name for name in requested if name in applicable]


def _add_values(shard: Shard, model: str, method: str, clip_ids: Sequence[str], values: dict[str, torch.Tensor]) -> None:
    for metric, per_clip in values.items():
        for clip_id, value in zip(clip_ids, per_clip.tolist()):
            shard.add("scores", model, method, metric, clip_id, float(value))


def _add_metric_failures(shard: Shard, model: str, method: str, clip_ids: Sequence[str],
                         failures: dict[str, str]) -> None:
    """One errors.csv row per clip and failed plug-in metric (naming it); the unit is retried by the next run."""
    for text in failures.values():
        for clip_id in clip_ids:
            shard.add("errors", model, method, clip_id, FAILED_STAGE, text)


def _add_tie_values(shard: Shard, model: str, method: str, clip_ids: Sequence[str], tie_seed: int,
                    values: dict[str, torch.Tensor]) -> None:
    for metric, per_clip in values.items():
        for clip_id, value in zip(clip_ids, per_clip.tolist()):
            shard.add("tie_scores", model, method, metric, clip_id, int(tie_seed), float(value))


def _add_curves(shard: Shard, model: str, method: str, clip_ids: Sequence[str], curves: dict) -> None:
    for name, curve in curves.items():
        fractions, scores = curve.fractions.tolist(), curve.scores.tolist()
        for clip_id, xs, ys in zip(clip_ids, fractions, scores):
            for x, y in zip(xs, ys):
                shard.add("curves", model, method, name, clip_id, float(x), float(y))


def _add_temporal(shard: Shard, model: str, method: str, clip_ids: Sequence[str], importance: torch.Tensor,
                  window: Optional[torch.Tensor]) -> None:
    from ..report import temporal_rows

    frame = temporal_rows(model, method, list(clip_ids), importance, None if window is None else window)
    for row in frame.itertuples(index=False):
        shard.add("temporal", row.model, row.method, row.clip_id, int(row.frame), float(row.importance),
                  None if np.isnan(row.in_window) else float(row.in_window))


class OverlayMaps:
    """Maps of the first few clips, kept for the attention-overlay figure (``.state/overlay_maps/``)."""

    def __init__(self, run_dir: Path, clip_ids: Sequence[str]):
        self.root = Path(run_dir) / ".state" / "overlay_maps"
        self.clip_ids = set(clip_ids)

    def save(self, model: str, method: str, clip_ids: Sequence[str], maps: torch.Tensor) -> None:
        from ..report.files import safe_name
        from ..runtime import atomic_path

        for clip_id, values in zip(clip_ids, maps):
            if clip_id in self.clip_ids:
                path = self.root / safe_name(clip_id) / f"{safe_name(model)}--{safe_name(method)}.npy"
                with atomic_path(path) as tmp:
                    with open(tmp, "wb") as fh:
                        np.save(fh, values.to(torch.float16).numpy())

    def load(self, clip_id: str) -> dict[tuple[str, str], np.ndarray]:
        from ..report.files import safe_name

        out = {}
        for path in sorted((self.root / safe_name(clip_id)).glob("*.npy")):
            model, method = path.stem.split("--", 1)
            out[(model, method)] = np.load(path)
        return out


def explain_and_score_model(
    cfg: RunConfig,
    model_name: str,
    model: nn.Module,
    clips: ClipBatches,
    store: ShardStore,
    overlays: OverlayMaps,
    device: torch.device,
    progress: bool = True,
    batches: Optional[Sequence[int]] = None,
    forwards: Optional[dict[str, list[int]]] = None,
) -> dict[str, float]:
    """Run every method on this rank's share of the clip batches (or on ``batches``) and write one shard per
    unit of work.

    Returns seconds spent per method on this rank (explanation + scoring), for the provenance. ``forwards``, when
    given, receives per method ``[perturbed inputs run through the model, inputs answered by the engine's memo]``
    of its scoring (the explanation's own passes are not counted).
    """
    _load_plugins(cfg)
    model = model.to(device).eval()
    methods = methods_for(model, cfg.explain.methods)
    if not getattr(clips.dataset, "has_ground_truth", False):
        blind = [m for m in methods if baselines.get_method(m).needs]
        if blind:
            log.info("skipping %s: they need ground truth, which this data set does not have", ", ".join(blind))
            methods = [m for m in methods if m not in blind]
    prior = _window_prior(cfg)
    wanted = set(selected_metrics(cfg.metrics))
    sanity = bool(wanted & set(SANITY_METRICS)) and cfg.metrics.sanity_clips > 0
    robust = bool(wanted & set(ROBUSTNESS_METRICS)) and cfg.metrics.robustness_clips > 0
    options = cfg.explain.options
    seconds: dict[str, float] = {}
    my_batches = list(batches) if batches is not None else distributed.shard(list(range(len(clips.indices))))
    todo = [(b, [m for m in [MODEL_LEVEL, *methods] if not store.done(model_name, m, b)]) for b in my_batches]
    todo = [(b, names) for b, names in todo if names]
    total = sum(len(names) for _, names in todo)
    bar = tqdm(total=total, desc=f"explain+score {model_name}", disable=not progress or total == 0, leave=True)

    def forward(x: torch.Tensor) -> torch.Tensor:
        return model(x).logits

    for batch_index, names in todo:
        batch = clips.load(batch_index)
        shard_base = Shard()
        skipped = batch.get("skipped", [])
        for clip_id, text in zip(batch.get("skipped_ids", ["*"] * len(skipped)), skipped):
            shard_base.add("errors", model_name, "*", clip_id, "decode", str(text))  # once per clip, every method
        clip_ids = list(batch["clip_id"])
        if not clip_ids:
            for name in names:
                store.write(model_name, name, batch_index, shard_base if name == MODEL_LEVEL else Shard())
                bar.update(1)
            continue
        x = batch["clip"].to(device)
        labels = batch["label"].long()
        evidence = batch.get("evidence")
        window = batch.get("window")
        seed = cfg.seed * 1000 + batch_index
        targets = baselines.resolve_targets(model, x, labels, cfg.explain.target)
        reference = reference_curves(forward, x, targets, cfg.metrics, seed=seed)
        for name in names:
            shard = Shard({k: list(v) for k, v in shard_base.rows.items()}) if name == MODEL_LEVEL else Shard()
            started = time.perf_counter()
            evaluated, reused = reference.engine.inputs_evaluated, reference.engine.inputs_reused
            if name == MODEL_LEVEL:
                try:
                    failures: dict[str, str] = {}  # plug-in metrics that failed; the others are kept
                    values = model_order_sensitivity(reference, x, seed=seed, cfg=cfg.metrics, labels=labels,
                                                     failures=failures)
                    _add_values(shard, model_name, MODEL_LEVEL, clip_ids, values)
                    _add_metric_failures(shard, model_name, MODEL_LEVEL, clip_ids, failures)
                except (StabnBenchError, ValueError, RuntimeError) as err:  # e.g. a broken model-level plug-in metric
                    log.warning("%s / model-level metrics failed on batch %d: %s", model_name, batch_index, _error_text(err))
                    for clip_id in clip_ids:
                        shard.add("errors", model_name, MODEL_LEVEL, clip_id, "score", _error_text(err))
                # the random-order reference curves (deletion_random, ...): one per model and clip, method "-"
                _add_curves(shard, model_name, MODEL_LEVEL, clip_ids, reference.curves)
            else:
                try:
                    truth = {"evidence": evidence, "action_window": window, "window_prior": prior}
                    explanation = baselines.explain(
                        name, model, x, targets, target_kind=cfg.explain.target, seed=seed,
                        batch_size=cfg.explain.batch_size, ground_truth=truth, **options.get(name, {}),
                    )
                    score = functools.partial(  # everything but the tie-break seed
                        score_explanations,
                        reference.engine, x, explanation.spatiotemporal, explanation.temporal, targets, labels,
                        cfg.metrics, evidence=evidence, window=window, random_curves=reference,
                        method=name, clip_ids=clip_ids, native_shape=explanation.native_shape,
                        window_prior=prior if window is not None else None,
                    )
                    result = score(seed=seed)
                    _add_values(shard, model_name, name, clip_ids, result.values)
                    _add_metric_failures(shard, model_name, name, clip_ids, result.failures)
                    if wants_tie_rescore(cfg, name, clips.indices[batch_index][0]):
                        rescored = tie_rescores(lambda s: score(seed=s).values, result.values, seed,
                                                cfg.metrics.validity.tie_seeds)
                        for k, values in rescored:
                            _add_tie_values(shard, model_name, name, clip_ids, k, values)
                    if sanity and batch_index == 0:
                        n = min(cfg.metrics.sanity_clips, len(clip_ids))
                        values = _sanity(model, name, x[:n], targets[:n], cfg, seed, options.get(name, {}),
                                         _first(truth, n), wanted, reference=explanation.spatiotemporal[:n])
                        _add_values(shard, model_name, name, clip_ids[:n], values)
                    if robust and batch_index == 0:
                        n = min(cfg.metrics.robustness_clips, len(clip_ids))
                        values = _robustness(model, name, x[:n], targets[:n], explanation.spatiotemporal[:n], cfg,
                                             seed, options.get(name, {}), _first(truth, n), wanted)
                        _add_values(shard, model_name, name, clip_ids[:n], values)
                    _add_curves(shard, model_name, name, clip_ids, result.curves)
                    _add_temporal(shard, model_name, name, clip_ids, explanation.temporal, window)
                    overlays.save(model_name, name, clip_ids, explanation.spatiotemporal)
                except (baselines.MethodError, StabnBenchError, ValueError, RuntimeError) as err:
                    log.warning("%s / %s failed on batch %d: %s", model_name, name, batch_index, _error_text(err))
                    for clip_id in clip_ids:
                        shard.add("errors", model_name, name, clip_id, "explain+score", _error_text(err))
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started
            if forwards is not None:
                counts = forwards.setdefault(name, [0, 0])
                counts[0] += reference.engine.inputs_evaluated - evaluated
                counts[1] += reference.engine.inputs_reused - reused
            store.write(model_name, name, batch_index, shard)
            bar.update(1)
    bar.close()
    return seconds


def _load_plugins(cfg: RunConfig) -> None:
    """Import the plug-in methods and metrics the config names: nothing new in the process that checked the
    config's names (each module is imported once per process), the first step in a worker process, which is
    spawned without them."""
    from ..config.names import load_method_plugins, load_metrics_plugins

    load_method_plugins(cfg.explain)
    load_metrics_plugins(cfg.metrics)


def _window_prior(cfg: RunConfig) -> Optional[torch.Tensor]:
    """(T,) placement prior of the synthetic data's action windows at the evaluated frames; None for other data."""
    if cfg.data.source != "synthetic":
        return None
    from ..data.synthetic import window_prior

    prior = window_prior(cfg.data.synthetic, cfg.data.num_frames, cfg.data.sampling, cfg.data.stride)
    return torch.from_numpy(prior).float()


def _first(truth: dict, n: int) -> dict:
    """The ground truth of the first ``n`` clips (the placement prior is per frame, not per clip)."""
    return {k: (v if k == "window_prior" or v is None else v[:n]) for k, v in truth.items()}


def _sanity(model: nn.Module, method: str, clips: torch.Tensor, targets: torch.Tensor, cfg: RunConfig, seed: int,
            options: dict, ground_truth: Optional[dict] = None, wanted: Optional[set] = None,
            reference: Optional[torch.Tensor] = None) -> dict[str, torch.Tensor]:
    """The wanted randomisation tests (N,) of ``method`` on ``clips``: ``randomisation_spearman`` (cascading
    randomisation of a model copy), ``smooth_mprt`` and ``efficient_mprt`` (the fully randomised copy);
    ``reference``: the trained model's maps of ``clips`` where the caller has them (efficient MPRT reuses them)."""
    wanted = set(SANITY_METRICS) if wanted is None else wanted

    def explain_fn(m: nn.Module, c: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        truth = _repeat(ground_truth, c.shape[0] // clips.shape[0])  # smooth MPRT explains stacked noisy copies
        return baselines.explain(method, m, c, t, target_kind=cfg.explain.target, seed=seed,
                                 batch_size=cfg.explain.batch_size, ground_truth=truth, **options).spatiotemporal

    values: dict[str, torch.Tensor] = {}
    if "randomisation_spearman" in wanted:
        values["randomisation_spearman"] = cascading_randomisation(model, explain_fn, clips, targets, seed=seed).score
    if {"smooth_mprt", "efficient_mprt"} & wanted:
        randomised = randomised_copy(model, seed=seed)
        if "smooth_mprt" in wanted:
            values["smooth_mprt"] = smooth_mprt(model, explain_fn, clips, targets, cfg.metrics.mprt_samples,
                                                cfg.metrics.mprt_noise, seed, randomised=randomised)
        if "efficient_mprt" in wanted:
            values["efficient_mprt"] = efficient_mprt(model, explain_fn, clips, targets, seed, reference=reference,
                                                      randomised=randomised)
    return values


def _robustness(model: nn.Module, method: str, clips: torch.Tensor, targets: torch.Tensor, maps: torch.Tensor,
                cfg: RunConfig, seed: int, options: dict, ground_truth: Optional[dict] = None,
                wanted: Optional[set] = None) -> dict[str, torch.Tensor]:
    """The wanted robustness metrics (N,) of ``method`` on ``clips`` (:func:`metrics.robustness.robustness_scores`).

    The perturbed copies are explained with another seed than the clips were (``seed + 1``): a method that draws
    at random (the ``random`` control) draws a new map, as it would on a new call."""
    from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD

    wanted = set(ROBUSTNESS_METRICS) if wanted is None else wanted
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    samples = cfg.metrics.robustness_samples

    def explain(c: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return baselines.explain(method, model, c, t, target_kind=cfg.explain.target, seed=seed + 1,
                                 batch_size=cfg.explain.batch_size, ground_truth=_repeat(ground_truth, samples),
                                 **options).spatiotemporal

    values = robustness_scores(explain, clips, targets, maps, samples, cfg.metrics.robustness_radius, seed,
                               scale=1 / std, low=-mean / std, high=(1 - mean) / std)
    return {name: value for name, value in values.items() if name in wanted}


def _repeat(ground_truth: Optional[dict], times: int) -> Optional[dict]:
    """Ground truth of N clips for ``times`` stacked copies of them (rows ``s * N + i``)."""
    if ground_truth is None:
        return None
    return {k: (v if k == "window_prior" or v is None else v.repeat(times, *([1] * (v.dim() - 1))))
            for k, v in ground_truth.items()}
