"""``stabn-bench run``: the whole benchmark in one call, resumable at every stage.

Stages: data (generate / check) -> train (one cached checkpoint folder per model config) -> accuracy ->
explain + score (one shard per model, method and clip batch) -> tables -> report. A stage that finished is recorded
in ``<run_dir>/.state/stages.json`` and skipped when the same command runs again; the run folder's
``config.yaml`` must then match the resolved config.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd
import torch
import yaml

from .. import distributed
from ..config import RunConfig, dump_yaml, to_dict
from ..errors import StabnBenchError
from ..provenance import collect_provenance
from ..runtime import atomic_write_text, seed_everything, select_device
from .scoring import ClipBatches, OverlayMaps, explain_and_score_model
from .shards import ShardStore

log = logging.getLogger("stabn_bench.pipeline")

#: result tables written from the shards (``accuracy.csv`` is written by its own stage)
MERGED_TABLES = ("scores", "curves", "temporal", "errors")


def run_dir_of(cfg: RunConfig) -> Path:
    return Path(cfg.output_dir) / cfg.run_name


def _flatten(tree, prefix: str = "") -> dict:
    if isinstance(tree, dict):
        out = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


def prepare_run_dir(cfg: RunConfig, restart: bool = False) -> Path:
    """Create ``results/<run-name>/`` and its ``config.yaml``; an existing run must have the same config.

    ``restart`` discards an existing run folder first (checkpoints are kept: they are cached by config).
    """
    run_dir = run_dir_of(cfg)
    config_path = run_dir / "config.yaml"
    text = dump_yaml(cfg)
    if restart and run_dir.exists() and distributed.is_main():
        shutil.rmtree(run_dir)
    distributed.barrier()
    if config_path.is_file():
        old = _flatten(yaml.safe_load(config_path.read_text()) or {})
        new = _flatten(to_dict(cfg))
        differ = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        if differ:
            shown = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in differ[:3])
            raise StabnBenchError(
                f"{run_dir} holds a run with another config ({shown}{', ...' if len(differ) > 3 else ''}); "
                f"give it another run_name=NAME, or pass --restart to discard the old run"
            )
    elif distributed.is_main():
        atomic_write_text(config_path, text)
    distributed.barrier()
    return run_dir


class StageLog:
    """Which stages are finished, and the seconds each took (summed over resumed invocations)."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / ".state" / "stages.json"
        self.state = json.loads(self.path.read_text()) if self.path.is_file() else {"done": [], "seconds": {}}

    def done(self, stage: str) -> bool:
        return stage in self.state["done"]

    @contextmanager
    def stage(self, name: str, mark_done: bool = True) -> Iterator[None]:
        started = time.perf_counter()
        log.info("stage %s ...", name)
        yield
        seconds = time.perf_counter() - started
        self.state["seconds"][name] = self.state["seconds"].get(name, 0.0) + seconds
        if mark_done and name not in self.state["done"]:
            self.state["done"].append(name)
        log.info("stage %s done in %.1f s", name, seconds)
        if distributed.is_main():
            atomic_write_text(self.path, json.dumps(self.state, indent=2))

    def add_seconds(self, name: str, seconds: float) -> None:
        self.state["seconds"][name] = self.state["seconds"].get(name, 0.0) + seconds


def _load_methods(cfg: RunConfig) -> None:
    from stabn_bench import baselines

    baselines.load_entry_point_methods()
    if cfg.explain.methods_module:
        baselines.load_methods_module(cfg.explain.methods_module)


def run_benchmark(cfg: RunConfig, restart: bool = False, progress: bool = True) -> Path:
    """Run (or resume) the benchmark ``cfg`` describes; returns the run folder ``results/<run-name>``."""
    from ..data import build_dataset
    from ..training import checkpoint_folder, load_model, train_model

    device = select_device(cfg.device)
    if distributed.init_from_env(device) and device.type == "cuda":
        device = torch.device("cuda", distributed.local_rank())
        torch.cuda.set_device(device)
    seed_everything(cfg.seed)
    _load_methods(cfg)
    run_dir = prepare_run_dir(cfg, restart)
    stages = StageLog(run_dir)
    started = time.perf_counter()

    with stages.stage("data"):
        if distributed.is_main():  # generate once, then every rank reads the cache
            test_set = build_dataset(cfg.data, cfg.data.test_split, train=False, progress=progress)
        distributed.barrier()
        if not distributed.is_main():
            test_set = build_dataset(cfg.data, cfg.data.test_split, train=False, progress=False)
        _check_labelled(test_set, cfg.data.test_split)

    checkpoints: dict[str, Path] = {}
    with stages.stage("train"):
        for name in cfg.train.models:
            folder = checkpoint_folder(cfg, name)
            result = train_model(cfg, name, folder, resume=True, progress=progress)
            checkpoints[name] = result.best_path if result.best_path.is_file() else result.last_path
            stages.add_seconds(f"train:{name}", result.wall_time_s)

    models = {name: load_model(path, device)[0] for name, path in checkpoints.items()}

    if not stages.done("accuracy"):
        with stages.stage("accuracy"):
            _accuracy_stage(cfg, models, test_set, device, run_dir)

    clip_batches = ClipBatches.first(test_set, cfg.explain.num_clips, cfg.explain.batch_size)
    overlay_ids = [test_set.clip_ids[i] for i in range(min(cfg.explain.overlay_clips, len(test_set)))]
    store = ShardStore(run_dir)
    overlays = OverlayMaps(run_dir, overlay_ids)
    if not stages.done("explain"):
        with stages.stage("explain"):
            for name, model in models.items():
                seconds = explain_and_score_model(cfg, name, model, clip_batches, store, overlays, device, progress)
                for method, s in seconds.items():
                    stages.add_seconds(f"explain:{name}:{method}", s)
            distributed.barrier()

    if distributed.is_main():
        with stages.stage("tables", mark_done=False):
            _write_tables(run_dir, store, overlays, test_set, overlay_ids, models, device)
        with stages.stage("report", mark_done=False):
            from ..report import write_report

            write_report(run_dir, formats=tuple(cfg.report.formats))
        provenance = collect_provenance(device, cfg.seed, distributed.world_size())
        provenance["timings_s"] = {k: round(v, 3) for k, v in stages.state["seconds"].items()}
        provenance["this_invocation_s"] = round(time.perf_counter() - started, 3)
        provenance["checkpoints"] = {name: str(path) for name, path in checkpoints.items()}
        atomic_write_text(run_dir / "provenance.json", json.dumps(provenance, indent=2))
    distributed.barrier()
    return run_dir


def _check_labelled(dataset, split: str) -> None:
    """The benchmark scores predictions against labels: a split without any (SSv2's official test) is refused."""
    records = getattr(dataset, "records", None)
    if records and all(r.label < 0 for r in records):
        raise StabnBenchError(f"split '{split}' of data.root has no labels (e.g. SSv2's official test split); "
                              "set data.test_split to a labelled split, e.g. data.test_split=validation")


def _accuracy_stage(cfg: RunConfig, models: dict, test_set, device: torch.device, run_dir: Path) -> None:
    from ..data import collate_clips
    from ..report import write_table
    from ..training import accuracy_rows, evaluate_model

    sampler = distributed.ShardSampler(len(test_set)) if distributed.is_distributed() else None
    loader = torch.utils.data.DataLoader(test_set, batch_size=cfg.train.batch_size, sampler=sampler,
                                         num_workers=cfg.data.num_workers, collate_fn=collate_clips)
    rows = []
    for name, model in models.items():
        accuracy = evaluate_model(model, loader, device, amp=cfg.train.amp)
        rows += accuracy_rows(name, accuracy)
    if distributed.is_main():
        write_table(pd.DataFrame(rows, columns=["model", "head", "top1", "top5", "n_clips"]), run_dir / "accuracy.csv")


def _write_tables(run_dir: Path, store: ShardStore, overlays: OverlayMaps, test_set, overlay_ids, models,
                  device) -> None:
    from ..report import clip_to_frames, write_overlay, write_table

    tables = store.merge()
    for name in MERGED_TABLES:
        write_table(tables[name], run_dir / f"{name}.csv")
    index_of = {clip_id: i for i, clip_id in enumerate(test_set.clip_ids)}
    for clip_id in overlay_ids:
        maps = overlays.load(clip_id)
        if not maps:
            continue
        item = test_set[index_of[clip_id]]
        if not isinstance(item, dict) or "clip" not in item:
            continue  # undecodable: listed in errors.csv
        evidence = item.get("evidence")
        meta = {"label": int(item["label"]), "class": test_set.classes[int(item["label"])] if int(item["label"]) >= 0 else None}
        with torch.no_grad():
            for name, model in models.items():
                meta[f"prediction/{name}"] = int(model(item["clip"][None].to(device)).logits.argmax(1).item())
        write_overlay(run_dir, clip_id, clip_to_frames(item["clip"]), None if evidence is None else evidence.numpy(),
                      maps, meta)
