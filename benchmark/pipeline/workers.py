"""Independent units of a CPU run (trainings; explain-and-score batches) spread over worker processes.

Small 3-D convolutions use two CPU threads poorly, so on a CPU with ``workers`` > 1 the run starts that many
single-thread processes and deals them whole units of work: one training (model, seed), or one clip batch of one
(model, seed) explained by every method and scored by every metric. Units share nothing but the files they
write (a checkpoint folder, shard files), so the results are those of a single process (up to the float rounding
of one thread instead of several). Under ``torchrun`` or on a GPU the run stays in its own process.
"""
from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence, TypeVar

import torch

from stabn_bench.metrics.costs import Cost

log = logging.getLogger("stabn_bench.pipeline")


def worker_count(requested: int, device: torch.device, distributed: bool) -> int:
    """Processes to use: ``requested`` (0 = auto: one per CPU core, at most 4) on a CPU, 1 elsewhere."""
    if device.type != "cpu" or distributed:
        return 1
    if requested > 0:
        return requested
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def _init_worker(threads: int, verbose: bool, parent: int | None = None) -> None:
    torch.set_num_threads(threads)
    from ..runtime import setup_logging

    setup_logging(verbose)
    if parent is not None:
        threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="exit-with-parent").start()


def _exit_with_parent(parent: int, interval: float = 0.5) -> None:
    """End this worker as soon as the process that started it is gone (a killed run leaves no orphan computing
    its unit: its shard would meet the resumed run's)."""
    while os.getppid() == parent:
        time.sleep(interval)
    os._exit(1)


@dataclass
class TrainJob:
    seed: int
    model: str
    folder: Path


@dataclass
class TrainOutcome:
    seed: int
    model: str
    checkpoint: Path
    wall_time_s: float
    epochs_trained: int


def _train(cfg, job: TrainJob, which: str) -> TrainOutcome:
    from ..training import train_model

    result = train_model(cfg, job.model, job.folder, resume=True, progress=False)
    return TrainOutcome(job.seed, job.model, result.checkpoint(which), result.wall_time_s, result.epochs_trained)


@dataclass
class ExplainJob:
    """One clip batch of one (model, seed): every method and metric."""

    seed: int
    model: str
    checkpoint: Path
    batch: int
    in_domain: bool
    overlay_ids: tuple[str, ...]


#: per worker process: the test set, built once
_TEST_SET: dict[str, object] = {}


def _explain(cfg, job: ExplainJob,
             run_dir: Path) -> tuple[dict[str, float], dict[str, list[int]], dict[str, dict[str, Cost]]]:
    from ..data import build_dataset
    from ..runtime import select_device
    from ..training import load_model
    from ..training.in_domain import in_domain_config
    from .scoring import ClipBatches, OverlayMaps, explain_and_score_model
    from .shards import ShardStore
    from stabn_bench.metrics.engine import channels_last_model

    if "test" not in _TEST_SET:
        _TEST_SET["test"] = build_dataset(cfg.data, cfg.data.test_split, train=False, progress=False)
    test_set = _TEST_SET["test"]
    device = select_device(cfg.device)
    model, _ = load_model(job.checkpoint, device)
    if device.type == "cpu":
        channels_last_model(model)
    clips = ClipBatches.first(test_set, cfg.explain.num_clips, cfg.explain.batch_size)
    unit_cfg = in_domain_config(cfg) if job.in_domain else cfg
    forwards: dict[str, list[int]] = {}
    costs: dict[str, dict[str, Cost]] = {}
    seconds = explain_and_score_model(unit_cfg, job.model, model, clips, ShardStore(run_dir, job.seed),
                                      OverlayMaps(run_dir, list(job.overlay_ids)), device, progress=False,
                                      batches=[job.batch], forwards=forwards, costs=costs)
    return seconds, forwards, costs


Job = TypeVar("Job")
Result = TypeVar("Result")


def run_parallel(function: Callable[[Job], Result], jobs: Sequence[Job], workers: int, describe: Callable[[Job], str],
                 progress: bool, label: str, verbose: bool = False) -> Iterator[tuple[Job, Result]]:
    """Yield ``(job, function(job))`` as jobs finish, over ``workers`` spawned single-thread processes.

    Jobs are handed out in the given order (put the longest first). A job that raises re-raises here.
    """
    from tqdm.auto import tqdm

    threads = max(1, (os.cpu_count() or workers) // workers)
    context = multiprocessing.get_context("spawn")
    bar = tqdm(total=len(jobs), desc=f"{label} ({workers} processes)", disable=not progress or not jobs, unit="unit")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                                                initargs=(threads, verbose, os.getpid())) as pool:
        futures: dict[concurrent.futures.Future, Job] = {pool.submit(function, job): job for job in jobs}
        try:
            for future in concurrent.futures.as_completed(futures):
                job = futures[future]
                result = future.result()
                bar.update(1)
                bar.set_postfix_str(describe(job), refresh=True)
                yield job, result
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        finally:
            bar.close()


class TrainCall:
    """Picklable ``job -> train_model(configs[job.seed], job.model, job.folder)``: the outcome to explain."""

    def __init__(self, configs: dict, which: str):
        self.configs = configs
        self.which = which

    def __call__(self, job: TrainJob) -> TrainOutcome:
        return _train(self.configs[job.seed], job, self.which)


class ExplainCall:
    """Picklable ``job -> explain_and_score_model`` on one clip batch: seconds, scoring forwards and costs per
    method."""

    def __init__(self, configs: dict, run_dir: Path):
        self.configs = configs
        self.run_dir = Path(run_dir)

    def __call__(self, job: ExplainJob) -> tuple[dict[str, float], dict[str, list[int]], dict[str, dict[str, Cost]]]:
        return _explain(self.configs[job.seed], job, self.run_dir)


__all__ = ["ExplainCall", "ExplainJob", "TrainCall", "TrainJob", "TrainOutcome", "run_parallel", "worker_count"]
