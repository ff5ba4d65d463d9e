"""``stabn-bench run``: the whole benchmark in one call, resumable at every stage.

Stages: data (generate / check) -> train (one cached checkpoint folder per model config and training seed) ->
accuracy -> alignment (the models' own attention vs the ground truth) -> explain + score (one shard per seed, model,
method and clip batch) -> tables -> report. Every model is trained, evaluated, explained and scored once per seed
of ``train.seeds``. A stage that finished is recorded in ``<run_dir>/.state/stages.json`` and skipped when the same
command runs again; the run folder's ``config.yaml`` must then match the resolved config.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from contextlib import contextmanager
from dataclasses import replace
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


def seed_config(cfg: RunConfig, seed: int) -> RunConfig:
    """The run's config for one training seed: ``seed`` drives initialisation, data order and explanation RNGs."""
    return replace(cfg, seed=seed)


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
    from ..report import write_table
    from ..training import checkpoint_folder, explained_checkpoint_row, load_model, train_model
    from ..training.checkpoint import EXPLAINED_COLUMNS

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

    seeds = cfg.train_seeds()
    checkpoints: dict[tuple[int, str], Path] = {}
    with stages.stage("train"):
        for seed in seeds:
            for name in cfg.train.models:
                folder = checkpoint_folder(seed_config(cfg, seed), name)
                result = train_model(seed_config(cfg, seed), name, folder, resume=True, progress=progress)
                checkpoints[seed, name] = result.checkpoint(cfg.explain.checkpoint)
                stages.add_seconds(f"train:{name}", result.wall_time_s)

    loaded = {key: load_model(path, device) for key, path in checkpoints.items()}
    models = {key: model for key, (model, _) in loaded.items()}
    explained = [{**explained_checkpoint_row(name, checkpoints[seed, name], meta), "seed": seed}
                 for (seed, name), (_, meta) in loaded.items()]
    if distributed.is_main():  # before the report, which notes the explained epoch of every model
        write_table(pd.DataFrame(explained, columns=[*EXPLAINED_COLUMNS, "seed"]), run_dir / "checkpoints.csv")

    if not stages.done("accuracy"):
        with stages.stage("accuracy"):
            _accuracy_stage(cfg, models, test_set, device, run_dir)

    if not stages.done("alignment"):
        with stages.stage("alignment"):
            from .alignment import alignment_table

            table = alignment_table(models, test_set, cfg.train.batch_size, cfg.data.num_workers, device)
            if distributed.is_main():
                write_table(table, run_dir / "attention_alignment.csv")

    clip_batches = ClipBatches.first(test_set, cfg.explain.num_clips, cfg.explain.batch_size)
    overlay_ids = [test_set.clip_ids[i] for i in range(min(cfg.explain.overlay_clips, len(test_set)))]
    store = ShardStore(run_dir)
    overlays = OverlayMaps(run_dir, overlay_ids)  # maps of the first seed's models only
    if not stages.done("explain"):
        with stages.stage("explain"):
            for (seed, name), model in models.items():
                seconds = explain_and_score_model(
                    seed_config(cfg, seed), name, model, clip_batches, ShardStore(run_dir, seed),
                    overlays if seed == seeds[0] else OverlayMaps(run_dir, []), device, progress)
                for method, s in seconds.items():
                    stages.add_seconds(f"explain:{name}:{method}", s)
            distributed.barrier()

    if distributed.is_main():
        with stages.stage("tables", mark_done=False):
            first_models = {name: model for (seed, name), model in models.items() if seed == seeds[0]}
            _write_tables(run_dir, store, overlays, test_set, overlay_ids, first_models, device)
        with stages.stage("report", mark_done=False):
            from ..report import write_report

            write_report(run_dir, formats=tuple(cfg.report.formats))
        provenance = collect_provenance(device, cfg.seed, distributed.world_size())
        provenance["timings_s"] = {k: round(v, 3) for k, v in stages.state["seconds"].items()}
        provenance["this_invocation_s"] = round(time.perf_counter() - started, 3)
        provenance["train_seeds"] = seeds
        provenance["checkpoints"] = {name: {str(seed): str(checkpoints[seed, name]) for seed in seeds}
                                     for name in cfg.train.models}
        provenance["explained"] = {name: {str(row["seed"]): {k: v for k, v in row.items() if k not in ("model", "seed")}
                                          for row in explained if row["model"] == name} for name in cfg.train.models}
        atomic_write_text(run_dir / "provenance.json", json.dumps(provenance, indent=2))
    distributed.barrier()
    return run_dir


def _accuracy_stage(cfg: RunConfig, models: dict[tuple[int, str], torch.nn.Module], test_set, device: torch.device, run_dir: Path) -> None:
    from ..data import collate_clips
    from ..report import write_table
    from ..report.seeds import aggregate_accuracy
    from ..training import accuracy_rows, evaluate_model

    sampler = distributed.ShardSampler(len(test_set)) if distributed.is_distributed() else None
    loader = torch.utils.data.DataLoader(test_set, batch_size=cfg.train.batch_size, sampler=sampler,
                                         num_workers=cfg.data.num_workers, collate_fn=collate_clips)
    rows = []
    for (seed, name), model in models.items():
        accuracy = evaluate_model(model, loader, device, amp=cfg.train.amp)
        rows += [{**row, "seed": seed} for row in accuracy_rows(name, accuracy)]
    if distributed.is_main():
        per_seed = pd.DataFrame(rows, columns=["model", "head", "top1", "top5", "n_clips", "seed"])
        write_table(per_seed, run_dir / "accuracy_seeds.csv")
        write_table(aggregate_accuracy(per_seed), run_dir / "accuracy.csv")


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
