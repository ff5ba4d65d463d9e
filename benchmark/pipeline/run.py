"""``stabn-bench run``: the whole benchmark in one call, resumable at every stage.

Stages: data (generate / check) -> train (one cached checkpoint folder per model config and training seed) ->
accuracy -> alignment (the models' own attention vs the ground truth) -> explain + score (one shard per seed, model,
method and clip batch) -> tables -> report. Every model is trained, evaluated, explained and scored once per seed
of ``train.seeds``. A stage that finished is recorded in ``<run_dir>/.state/stages.json`` and skipped when the same
command runs again; the run folder's ``config.yaml`` must then match the resolved config.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, Iterator, Mapping, Optional

import pandas as pd
import torch
import yaml

from stabn_bench.metrics.costs import Cost

from .. import distributed
from ..config import RunConfig, dump_yaml, to_dict
from ..errors import StabnBenchError
from ..provenance import collect_provenance
from ..runtime import atomic_write_text, ensure_writable_dir, remove_stale_temporaries, seed_everything, select_device
from .scoring import ClipBatches, OverlayMaps, explain_and_score_model
from .shards import ShardStore
from .validity import write_metric_validity
from .workers import ExplainCall, ExplainJob, TrainCall, TrainJob, run_parallel, worker_count

log = logging.getLogger("stabn_bench.pipeline")

#: result tables written from the shards (``accuracy.csv`` is written by its own stage)
MERGED_TABLES = ("scores", "curves", "temporal", "errors", "tie_scores")


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


def _read_state_file(path: Path, parse) -> Any:
    """``parse(text)`` of a run's own file, or a StabnBenchError naming it when it is unreadable or corrupt."""
    try:
        return parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as err:
        first = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
        raise StabnBenchError(f"'{path}' is unreadable or corrupt ({first}); pass --restart to discard the run "
                              f"'{path.parent if path.parent.name != '.state' else path.parent.parent}'") from None


def is_run_dir(path: Path) -> bool:
    """True for a folder written by ``stabn-bench run`` (it holds ``config.yaml`` or ``.state/``)."""
    return path.is_dir() and not path.is_symlink() and ((path / "config.yaml").is_file() or (path / ".state").is_dir())


def discard_run_dir(cfg: RunConfig) -> None:
    """``--restart``: delete ``<output_dir>/<run_name>`` after checking it is a run folder inside ``output_dir``.

    Anything else (a symlink, a file, a folder that holds no run, a path outside ``output_dir``) is refused with
    an error and nothing is deleted.
    """
    run_dir = run_dir_of(cfg)
    if not run_dir.exists() and not run_dir.is_symlink():
        return
    output_dir = Path(cfg.output_dir).resolve()
    if run_dir.is_symlink() or run_dir.resolve().parent != output_dir:
        raise StabnBenchError(f"--restart refused: '{run_dir}' is a link or lies outside output_dir '{output_dir}'; "
                              "remove it yourself if it is meant to go")
    if not is_run_dir(run_dir):
        raise StabnBenchError(f"--restart refused: '{run_dir}' is not a run folder (no config.yaml or .state/ in it); "
                              "remove it yourself or choose another run_name")
    shutil.rmtree(run_dir)


def prepare_run_dir(cfg: RunConfig, restart: bool = False) -> Path:
    """Create ``results/<run-name>/`` and its ``config.yaml``; an existing run must have the same config.

    ``restart`` discards an existing run folder first (checkpoints are kept: they are cached by config); it deletes
    nothing but that run folder (see :func:`discard_run_dir`).
    """
    run_dir = run_dir_of(cfg)
    config_path = run_dir / "config.yaml"
    text = dump_yaml(cfg)
    if restart and distributed.is_main():
        discard_run_dir(cfg)
    distributed.barrier()
    if run_dir.exists() and not run_dir.is_dir():
        raise StabnBenchError(f"run folder '{run_dir}' is a file; remove it or choose another run_name")
    if run_dir.is_dir() and any(run_dir.iterdir()) and not is_run_dir(run_dir):
        raise StabnBenchError(f"'{run_dir}' holds files but no run (no config.yaml); choose another run_name "
                              "or output_dir")
    if config_path.is_file():
        old = _flatten(_read_state_file(config_path, yaml.safe_load) or {})
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
    if distributed.is_main():  # temporaries of a killed run (this run holds the lock: no live writer is left)
        remove_stale_temporaries(run_dir)
    distributed.barrier()
    return run_dir


class RunLock:
    """``<output_dir>/.<run_name>.lock``: an exclusive ``flock`` held while a run writes to its run folder.

    The file names the PID of the holder. A second run of the same name stops at once with an error naming that
    PID. The operating system drops the lock when its process ends, however it ends, so the lock of a killed run
    is simply taken over by the next one. The (empty) file stays behind when released.
    """

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir.parent / f".{self.run_dir.name}.lock"
        self._handle: Optional[IO[str]] = None

    def acquire(self) -> None:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise StabnBenchError(
                f"run folder '{self.run_dir}' is in use by another stabn-bench run (PID {holder}, lock file "
                f"'{self.path}'); wait for it to finish or give this run another run_name=NAME"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            import fcntl

            self._handle.truncate(0)
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class StageLog:
    """Which stages are finished, and the seconds each took (summed over resumed invocations)."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / ".state" / "stages.json"
        self.state = _read_state_file(self.path, json.loads) if self.path.is_file() else {"done": [], "seconds": {}}
        if (not isinstance(self.state, dict) or not isinstance(self.state.get("done"), list)
                or not isinstance(self.state.get("seconds"), dict)):
            raise StabnBenchError(f"'{self.path}' is corrupt (expected {{\"done\": [...], \"seconds\": {{...}}}}); "
                                  f"pass --restart to discard the run '{run_dir}'")
        invocations = self.state.setdefault("invocations", [])
        if not isinstance(invocations, list) or not all(isinstance(i, dict) for i in invocations):
            raise StabnBenchError(f"'{self.path}' is corrupt ('invocations' must be a list of objects); "
                                  f"pass --restart to discard the run '{run_dir}'")
        self.invocation = len(invocations)
        invocations.append({})

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

    def mark_done(self, name: str) -> None:
        if name not in self.state["done"]:
            self.state["done"].append(name)
        if distributed.is_main():
            atomic_write_text(self.path, json.dumps(self.state, indent=2))

    def add_seconds(self, name: str, seconds: float) -> None:
        self.state["seconds"][name] = self.state["seconds"].get(name, 0.0) + seconds

    def add_forwards(self, model: str, forwards: dict[str, list[int]]) -> None:
        """Add scoring forward passes per method (``[run, answered by the memo]``) of ``model``."""
        table = self.state.setdefault("forwards", {})
        for method, (run, reused) in forwards.items():
            counts = table.setdefault(f"{model}:{method}", [0, 0])
            counts[0] += int(run)
            counts[1] += int(reused)

    def add_costs(self, model: str, costs: dict[str, dict[str, Cost]]) -> None:
        """Add the explain-and-score costs per method and part of the work (``[seconds, forwards, reused,
        forward seconds]``, :mod:`stabn_bench.metrics.costs`) of ``model``."""
        table = self.state.setdefault("costs", {})
        for method, parts in costs.items():
            entry = table.setdefault(f"{model}:{method}", {})
            for part, cost in parts.items():
                total = Cost.from_list(entry[part]) if part in entry else Cost()
                total.add(cost)
                entry[part] = total.as_list()

    def count_units(self, stage: str, computed: int, reused: int, unit: str) -> None:
        """Record how many units of ``stage`` this invocation computes and how many it finds done (cached
        checkpoints, shards written by an earlier invocation of this run)."""
        self.state["invocations"][self.invocation][stage] = {"computed": computed, "reused": reused, "unit": unit}

    def units(self) -> dict[str, dict]:
        """Per stage over all invocations: units ``computed`` (summed), ``reused`` from outside this run (what
        the first invocation found done), ``unit`` and ``invocations`` (how many invocations reached the stage)."""
        out: dict[str, dict] = {}
        for counts in self.state["invocations"]:
            for stage, c in counts.items():
                if stage not in out:
                    out[stage] = {"computed": 0, "reused": c["reused"], "unit": c["unit"], "invocations": 0}
                out[stage]["computed"] += c["computed"]
                out[stage]["invocations"] += 1
        return out


def _load_methods(cfg: RunConfig) -> None:
    """Load the methods / metrics modules and check every method, option and metric name (ConfigError)."""
    from ..config import check_names

    check_names(cfg)


def run_benchmark(cfg: RunConfig, restart: bool = False, progress: bool = True) -> Path:
    """Run (or resume) the benchmark ``cfg`` describes; returns the run folder ``results/<run-name>``.

    The run folder is locked (:class:`RunLock`) while this runs: a second run of the same name stops at once.
    """
    _load_methods(cfg)  # names checked before any work
    device = select_device(cfg.device)
    if distributed.init_from_env(device) and device.type == "cuda":
        device = torch.device("cuda", distributed.local_rank())
        torch.cuda.set_device(device)
    seed_everything(cfg.seed)
    if distributed.is_main():  # every folder the run writes to, checked before any work starts
        ensure_writable_dir(cfg.output_dir, "config key 'output_dir'")
        ensure_writable_dir(cfg.checkpoint_dir, "config key 'checkpoint_dir'")
        if cfg.data.source == "synthetic":
            ensure_writable_dir(cfg.data.root, "config key 'data.root' (the synthetic data cache)")
    with RunLock(run_dir_of(cfg)) if distributed.is_main() else contextlib.nullcontext():
        return _run_locked(cfg, device, restart, progress)


def _run_locked(cfg: RunConfig, device: torch.device, restart: bool, progress: bool) -> Path:
    from ..data import build_dataset
    from ..report import write_table
    from ..training import checkpoint_folder, explained_checkpoint_row, is_trained, load_model, train_model
    from ..training.checkpoint import EXPLAINED_COLUMNS
    from ..training.in_domain import in_domain_config, is_in_domain

    run_dir = prepare_run_dir(cfg, restart)
    stages = StageLog(run_dir)
    store = ShardStore(run_dir)
    store.check()
    started = time.perf_counter()

    with stages.stage("data"):
        if cfg.data.source == "synthetic":
            from ..data.synthetic import is_complete, parameter_key

            cached = is_complete(Path(cfg.data.root) / parameter_key(cfg.data.synthetic))
            stages.count_units("data", computed=int(not cached), reused=int(cached), unit="synthetic data set")
        if distributed.is_main():  # generate once, then every rank reads the cache
            test_set = build_dataset(cfg.data, cfg.data.test_split, train=False, progress=progress)
        distributed.barrier()
        if not distributed.is_main():
            test_set = build_dataset(cfg.data, cfg.data.test_split, train=False, progress=False)
        _check_labelled(test_set, cfg.data.test_split)

    seeds = cfg.train_seeds()
    workers = worker_count(cfg.workers, device, distributed.is_distributed())
    checkpoints: dict[tuple[int, str], Path] = {}
    with stages.stage("train"):
        jobs = [TrainJob(seed, name, checkpoint_folder(seed_config(cfg, seed), name))
                for seed in seeds for name in cfg.train.models]
        stages.count_units("train", computed=sum(not is_trained(job.folder, cfg.train.epochs) for job in jobs),
                           reused=sum(is_trained(job.folder, cfg.train.epochs) for job in jobs), unit="trainings")
        if workers > 1:
            configs = {seed: seed_config(cfg, seed) for seed in seeds}
            # the slowest models first, so that the last job to start is a short one
            order = sorted(jobs, key=lambda j: cfg.train.models[::-1].index(j.model))
            for _, outcome in run_parallel(TrainCall(configs, cfg.explain.checkpoint), order, workers,
                                           _describe_train_job, progress, "train"):
                checkpoints[outcome.seed, outcome.model] = outcome.checkpoint
                stages.add_seconds(f"train:{outcome.model}", outcome.wall_time_s)
            checkpoints = {(j.seed, j.model): checkpoints[j.seed, j.model] for j in jobs}  # the run's order
        else:
            for job in jobs:
                result = train_model(seed_config(cfg, job.seed), job.model, job.folder, resume=True, progress=progress)
                checkpoints[job.seed, job.model] = result.checkpoint(cfg.explain.checkpoint)
                stages.add_seconds(f"train:{job.model}", result.wall_time_s)
        if cfg.metrics.in_domain.enabled:
            checkpoints.update(_in_domain_stage(cfg, checkpoints, stages, progress))

    loaded = {key: load_model(path, device) for key, path in checkpoints.items()}
    if device.type == "cpu":  # the same values, about 1.6x faster CPU convolutions
        from stabn_bench.metrics.engine import channels_last_model

        for model, _ in loaded.values():
            channels_last_model(model)
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
    overlays = OverlayMaps(run_dir, overlay_ids)  # maps of the first seed's plain models only
    if not stages.done("explain"):  # a unit that failed is not done: the next run retries it
        with stages.stage("explain", mark_done=False):
            units = _explain_units(cfg, seeds, checkpoints, clip_batches, overlay_ids, run_dir)
            todo = [job for job, done in units if not done]
            stages.count_units("explain", computed=len(todo), reused=len(units) - len(todo),
                               unit="clip batches of a model")
            if workers > 1 and todo:
                configs = {seed: seed_config(cfg, seed) for seed in seeds}
                for unit, (unit_seconds, unit_forwards, unit_costs) in run_parallel(
                        ExplainCall(configs, run_dir), todo, workers, _describe_explain_job, progress, "explain+score"):
                    for method, s in unit_seconds.items():
                        stages.add_seconds(f"explain:{unit.model}:{method}", s)
                    stages.add_forwards(unit.model, unit_forwards)
                    stages.add_costs(unit.model, unit_costs)
            else:
                for (seed, name), model in models.items():
                    forwards: dict[str, list[int]] = {}
                    costs: dict[str, dict[str, Cost]] = {}
                    seed_cfg, seed_store = seed_config(cfg, seed), ShardStore(run_dir, seed)
                    if is_in_domain(name):  # fine-tuned copies: their own methods and metrics, no overlays
                        seconds = explain_and_score_model(in_domain_config(seed_cfg), name, model, clip_batches,
                                                          seed_store, OverlayMaps(run_dir, []), device, progress,
                                                          forwards=forwards, costs=costs)
                    else:
                        seconds = explain_and_score_model(
                            seed_cfg, name, model, clip_batches, seed_store,
                            overlays if seed == seeds[0] else OverlayMaps(run_dir, []), device, progress,
                            forwards=forwards, costs=costs)
                    for method, s in seconds.items():
                        stages.add_seconds(f"explain:{name}:{method}", s)
                    stages.add_forwards(name, forwards)
                    stages.add_costs(name, costs)
            distributed.barrier()
        if not store.failed_units():
            stages.mark_done("explain")

    if distributed.is_main():
        with stages.stage("tables", mark_done=False):
            first_models = {name: model for (seed, name), model in models.items()
                            if seed == seeds[0] and not is_in_domain(name)}
            _write_tables(run_dir, store, overlays, test_set, overlay_ids, first_models, device, cfg)
        with stages.stage("report", mark_done=False):
            from ..report import write_report
            from ..report.plugin_data import write_plugin_data

            write_plugin_data(run_dir)  # kinds and directions of the plug-ins, read by every later report

            write_report(run_dir, formats=tuple(cfg.report.formats), workers=workers)
        provenance = collect_provenance(device, cfg.seed, distributed.world_size())
        provenance["timings_s"] = {k: round(v, 3) for k, v in stages.state["seconds"].items()}
        provenance["stage_units"] = stages.units()
        provenance["scoring_forwards"] = stages.state.get("forwards", {})
        #: "model:method" -> part of the work -> [seconds, forwards, reused, forward seconds] (metrics/costs.py)
        provenance["explain_costs"] = stages.state.get("costs", {})
        provenance["invocations"] = len(stages.state["invocations"])
        provenance["workers"] = workers
        provenance["this_invocation_s"] = round(time.perf_counter() - started, 3)
        provenance["train_seeds"] = seeds
        provenance["checkpoints"] = {name: {str(seed): str(checkpoints[seed, name]) for seed in seeds}
                                     for name in cfg.train.models}
        provenance["explained"] = {name: {str(row["seed"]): {k: v for k, v in row.items() if k not in ("model", "seed")}
                                          for row in explained if row["model"] == name} for name in cfg.train.models}
        atomic_write_text(run_dir / "provenance.json", json.dumps(provenance, indent=2))
    distributed.barrier()
    return run_dir


def _describe_train_job(job: TrainJob) -> str:
    return f"{job.model} seed {job.seed}"


def _describe_explain_job(job: ExplainJob) -> str:
    return f"{job.model} seed {job.seed} batch {job.batch}"


def _explain_units(cfg: RunConfig, seeds: list[int], checkpoints: dict[tuple[int, str], Path],
                   clip_batches: ClipBatches, overlay_ids: list[str], run_dir: Path) -> list[tuple[ExplainJob, bool]]:
    """Every (model, seed, clip batch) unit of the explain stage and whether all its shards are written, the
    largest batches and the models with the most methods first."""
    from stabn_bench import baselines

    from ..training.in_domain import in_domain_config, is_in_domain
    from .scoring import MODEL_LEVEL

    units = []
    for (seed, name), path in checkpoints.items():
        store = ShardStore(run_dir, seed)
        in_domain = is_in_domain(name)
        unit_cfg = in_domain_config(cfg) if in_domain else cfg
        applicable = baselines.available_methods(name.split("+")[0])
        requested = unit_cfg.explain.methods
        methods = [m for m in applicable if "all" in requested or m in requested]
        if not getattr(clip_batches.dataset, "has_ground_truth", False):
            methods = [m for m in methods if not baselines.get_method(m).needs]
        for batch in range(len(clip_batches.indices)):
            done = all(store.done(name, m, batch) for m in [MODEL_LEVEL, *methods])
            job = ExplainJob(seed, name, path, batch, in_domain,
                             tuple(overlay_ids) if seed == seeds[0] and not in_domain else ())
            units.append((job, done))
    units.sort(key=lambda unit: (-len(clip_batches.indices[unit[0].batch]), unit[0].model != "stabn"))
    return units


def _in_domain_stage(cfg: RunConfig, checkpoints: dict[tuple[int, str], Path], stages: StageLog,
                     progress: bool) -> dict[tuple[int, str], Path]:
    """Fine-tune every trained model on random tube deletions (``metrics.in_domain``);
    {(seed, ``<model>+indomain``): path}."""
    from ..training.in_domain import fine_tune_in_domain

    tuned = {}
    for (seed, name), path in checkpoints.items():
        result = fine_tune_in_domain(seed_config(cfg, seed), name, path, progress=progress)
        tuned[seed, result.model_name] = result.path
        stages.add_seconds(f"train:{result.model_name}", result.wall_time_s)
    return tuned


def _check_labelled(dataset, split: str) -> None:
    """The benchmark scores predictions against labels: a split without any (SSv2's official test) is refused."""
    records = getattr(dataset, "records", None)
    if records and all(r.label < 0 for r in records):
        raise StabnBenchError(f"split '{split}' of data.root has no labels (e.g. SSv2's official test split); "
                              "set data.test_split to a labelled split, e.g. data.test_split=validation")


def _accuracy_stage(cfg: RunConfig, models: Mapping[tuple[int, str], torch.nn.Module], test_set, device: torch.device, run_dir: Path) -> None:
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
                  device, cfg: RunConfig) -> None:
    from ..report import clip_to_frames, write_overlay, write_table

    tables = store.merge()
    for name in MERGED_TABLES:
        write_table(tables[name], run_dir / f"{name}.csv")
    write_metric_validity(run_dir, cfg, tables, num_classes=len(test_set.classes))
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
