"""The explain-and-score stage: every applicable method on the test clips of one model, scored by every metric.

Work is cut into (model, method, clip batch) units. Each unit's rows go to one shard file
(:mod:`stabn_bench.benchmark.pipeline.shards`) once the unit is finished, so a killed run recomputes nothing that was done;
under ``torchrun`` the clip batches are dealt out across the ranks. A method that fails on a batch is recorded in
``errors.csv`` with its reason, and the run goes on with the others.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from stabn_bench import baselines
from stabn_bench.core import MODEL_LEVEL
from stabn_bench.metrics.costs import Cost

from .. import distributed
from ..config import RunConfig
from ..data import collate_clips
from .clip_batch import ClipBatchInputs, score_clip_batch
from .shards import Shard, ShardStore
from .validity import wants_tie_rescore

log = logging.getLogger("stabn_bench.pipeline")

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


def methods_for(model: nn.Module, requested: Sequence[str]) -> list[str]:
    """The methods to run on ``model``: every applicable one for ``all``, else the named ones that apply."""
    arch = getattr(model, "arch", None)
    applicable = baselines.available_methods(arch)
    if "all" in requested:
        return applicable
    for name in requested:
        baselines.get_method(name)  # unknown names: an error listing the known ones
    return [name for name in requested if name in applicable]


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
    costs: Optional[dict[str, dict[str, Cost]]] = None,
) -> dict[str, float]:
    """Run every method on this rank's share of the clip batches (or on ``batches``) and write one shard per
    unit of work.

    Returns seconds spent per method on this rank (explanation + scoring), for the provenance. ``forwards``, when
    given, receives per method ``[perturbed inputs run through the model, inputs answered by the engine's memo]``
    of its scoring (the explanation's own passes are not counted). ``costs``, when given, receives per method
    and part of the work (``explain``, ``score/deletion``, ...) its summed :class:`~stabn_bench.metrics.costs.Cost`.
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
    seconds: dict[str, float] = {}
    my_batches = list(batches) if batches is not None else distributed.shard(list(range(len(clips.indices))))
    todo = [(b, [m for m in [MODEL_LEVEL, *methods] if not store.done(model_name, m, b)]) for b in my_batches]
    todo = [(b, names) for b, names in todo if names]
    total = sum(len(names) for _, names in todo)
    bar = tqdm(total=total, desc=f"explain+score {model_name}", disable=not progress or total == 0, leave=True)

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
        x, labels = batch["clip"].to(device), batch["label"].long()
        inputs = ClipBatchInputs(
            clips=x, targets=baselines.resolve_targets(model, x, labels, cfg.explain.target),
            labels=labels, clip_ids=clip_ids, seed=cfg.seed * 1000 + batch_index,
            target_kind=cfg.explain.target, evidence=batch.get("evidence"), window=batch.get("window"),
            window_prior=prior, first=batch_index == 0,
        )
        first_clip = clips.indices[batch_index][0]
        tie_methods = [name for name in names if name != MODEL_LEVEL and wants_tie_rescore(cfg, name, first_clip)]
        for unit in score_clip_batch(model, inputs, names, cfg.metrics, cfg.explain, tie_methods=tie_methods):
            name = unit.name
            shard = Shard({k: list(v) for k, v in shard_base.rows.items()}) if name == MODEL_LEVEL else Shard()
            if unit.error is not None:
                log.warning("%s / %s failed on batch %d: %s", model_name, name, batch_index, unit.error)
            for row in unit.score_rows(model_name, clip_ids):
                shard.add("scores", *row)
            for row in unit.error_rows(model_name, clip_ids):
                shard.add("errors", *row)
            for tie_seed, values in unit.tie_values:
                _add_tie_values(shard, model_name, name, clip_ids, tie_seed, values)
            _add_curves(shard, model_name, name, clip_ids, unit.curves)
            if unit.maps is not None and unit.temporal is not None:
                _add_temporal(shard, model_name, name, clip_ids, unit.temporal, inputs.window)
                overlays.save(model_name, name, clip_ids, unit.maps)
            seconds[name] = seconds.get(name, 0.0) + unit.seconds
            if forwards is not None:
                counts = forwards.setdefault(name, [0, 0])
                counts[0] += unit.inputs_scored
                counts[1] += unit.inputs_reused
            if costs is not None:
                method_costs = costs.setdefault(name, {})
                for part, cost in unit.costs.items():
                    method_costs.setdefault(part, Cost()).add(cost)
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
