"""Training of one model with the recipe of docs/design.md section 2, resumable, single-process or DDP (``torchrun``).

Each epoch: train (loss = perception CE + attention CE where the model has an attention branch), evaluate on
the validation split, write ``last.pt`` (and ``best.pt`` when the validation top-1 of the perception head
improves, or stays equal at a lower validation loss of that head) atomically, append a row to ``metrics.csv``.
The benchmark explains ``last.pt`` (the model at the end of the schedule) unless ``explain.checkpoint`` is
``best``: with few validation clips the top-1 has ties and noise, and the first epoch to reach a maximum is
rarely the model worth explaining. A killed run restarted with ``resume=True`` continues
from ``last.pt``: weights, optimizer, RNG states and the epoch's shuffle order are restored, so on CPU with
``train.deterministic`` it ends with the same weights as an uninterrupted run.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset
from tqdm import tqdm

from stabn_bench.metrics.engine import channels_last_model

from .. import distributed
from ..config import RunConfig, to_dict
from ..errors import StabnBenchError
from ..models import VideoAttentionNet, VideoModelOutput, build_model
from ..runtime import autocast, remove_stale_temporaries, seed_everything, select_device
from . import data as loaders
from .checkpoint import (EXPLAIN_CHECKPOINTS, check_compatible, checkpoint_config, improves, load_state,
                         model_meta, read_checkpoint, rng_state, save_checkpoint, set_rng_state)
from .evaluation import evaluate_model, move_clips, topk_correct
from .history import MetricsLog
from .schedule import learning_rate, scaled_lr

log = logging.getLogger("stabn_bench")

#: called after every epoch with (epochs completed, that epoch's metrics row); may raise to stop the run
EpochCallback = Callable[[int, dict[str, Any]], None]


@dataclass
class TrainResult:
    """Where a trained model's checkpoints are and how training went."""

    model_name: str
    best_path: Path
    last_path: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    best_metric: float = float("nan")
    epochs_trained: int = 0  # in this call (0 when the checkpoint was already complete)
    wall_time_s: float = 0.0
    #: the trained model (last epoch, eval mode, on the training device); None when nothing was trained
    model: Optional[VideoAttentionNet] = None

    def checkpoint(self, which: str = "last") -> Path:
        """The checkpoint to explain: ``last`` (the final model) or ``best`` (``last`` when no best.pt exists)."""
        if which not in EXPLAIN_CHECKPOINTS:
            raise ValueError(f"checkpoint choice '{which}' is not valid; valid: {', '.join(EXPLAIN_CHECKPOINTS)}")
        return self.best_path if which == "best" and self.best_path.is_file() else self.last_path


def checkpoint_folder(cfg: RunConfig, model_name: str) -> Path:
    """``<checkpoint_dir>/<model>-<hash>``: the hash covers everything that changes the trained weights, so runs
    that differ only in what they explain or score (or in their name) share the trained models."""
    data = {k: v for k, v in to_dict(cfg.data).items() if k != "ground_truth"}  # ground truth is not trained on
    keyed = {"seed": cfg.seed, "data": data, "model": to_dict(cfg.model),
             "train": {k: v for k, v in to_dict(cfg.train).items() if k not in ("models", "seeds")}, "arch": model_name}
    digest = hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:10]
    return Path(cfg.checkpoint_dir) / f"{model_name}-{digest}"


def is_trained(out_dir: str | Path, epochs: int) -> bool:
    """True when ``out_dir/last.pt`` holds a model trained for ``epochs`` epochs (a cached training; a corrupt
    or unreadable checkpoint counts as not trained, and training reports it)."""
    path = Path(out_dir) / "last.pt"
    if not path.is_file():
        return False
    try:
        return int(read_checkpoint(path)["meta"]["epoch"]) >= epochs
    except (StabnBenchError, KeyError, TypeError, ValueError):
        return False


def head_losses(out: VideoModelOutput, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Cross-entropy of every head: ``perception`` and, where present, ``attention`` (equal weights in the loss)."""
    return {head: F.cross_entropy(logits.float(), labels) for head, logits in out.heads().items()}


def optimizer_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor, clip_grad_norm: float) -> None:
    """One SGD update: clear the gradients, backpropagate ``loss``, clip at ``clip_grad_norm`` (0 = off), step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_grad_norm > 0:
        nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
    optimizer.step()


def _build_datasets(cfg: RunConfig, datasets: Optional[Mapping[str, Dataset]]) -> tuple[Any, Optional[Any]]:
    # (train, validation): map-style data sets with ``classes`` and a length
    if datasets is not None:
        return datasets["train"], datasets.get("val")
    from ..data import build_dataset

    return (build_dataset(cfg.data, cfg.data.train_split, train=True),
            build_dataset(cfg.data, cfg.data.val_split, train=False))


def train_model(cfg: RunConfig, model_name: str, out_dir: str | Path, resume: bool = True, progress: bool = True,
                datasets: Optional[Mapping[str, Dataset]] = None,
                on_epoch_end: Optional[EpochCallback] = None) -> TrainResult:
    """Train ``model_name`` (baseline | abn | stabn) with ``cfg`` into ``out_dir`` (``last.pt``, ``best.pt``, ``metrics.csv``).

    Args:
        cfg: the resolved run config (data, model, train sections, seed, device).
        model_name: a registered model name.
        out_dir: the checkpoint folder (see :func:`checkpoint_folder`).
        resume: continue from ``out_dir/last.pt`` when it exists (a finished run returns at once).
        progress: tqdm progress bars (main process only).
        datasets: {"train": ..., "val": ...} to use instead of ``build_dataset(cfg.data, ...)``.
        on_epoch_end: callback(epochs_completed, row) after each epoch's checkpoint is written.
    Under ``torchrun`` each process trains its share of every batch (DDP); rank 0 writes the files.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    tcfg = cfg.train
    device = select_device(cfg.device)
    if distributed.init_from_env(device) and device.type == "cuda":
        device = torch.device("cuda", distributed.local_rank())
    seed_everything(cfg.seed, tcfg.deterministic)

    train_set, val_set = _build_datasets(cfg, datasets)
    classes = list(train_set.classes)
    model = build_model(model_name, num_classes=len(classes), depth=cfg.model.depth, width=cfg.model.width,
                        dropout=cfg.model.dropout, inflate_from=cfg.model.inflate_from,
                        num_frames=cfg.data.num_frames, block_temporal=cfg.model.block_temporal).to(device)
    channels_last = tcfg.channels_last
    if channels_last:  # the 3-D conv weights channels-last: a training step about 1.4x faster on a CPU too
        channels_last_model(model)
    base_lr = scaled_lr(tcfg, distributed.world_size())
    optimizer = torch.optim.SGD(model.parameters(), lr=base_lr, momentum=tcfg.momentum, nesterov=tcfg.nesterov,
                                weight_decay=tcfg.weight_decay)
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    meta = {**model_meta(model, cfg.model.dropout, classes), "epoch": 0, "best_metric": -math.inf, "best_epoch": 0,
            "best_loss": math.inf, "history": [], "config": checkpoint_config(cfg)}
    saved_rng = None
    if distributed.is_main():  # temporaries of a killed writer (its process is gone; live writers' files stay)
        remove_stale_temporaries(out_dir, recursive=False)
    if resume and last_path.is_file():
        payload = read_checkpoint(last_path)
        check_compatible(payload["meta"], model_meta(model, cfg.model.dropout, classes), last_path)
        load_state(model, payload["model"], last_path)
        if payload["optimizer"] is not None:
            optimizer.load_state_dict(payload["optimizer"])
        meta.update({k: payload["meta"][k] for k in ("epoch", "best_metric", "best_epoch", "history")})
        meta["best_loss"] = payload["meta"].get("best_loss", math.inf)
        saved_rng = payload["rng"]
        log.info("%s: resuming from %s after epoch %d", model_name, last_path, meta["epoch"])
    if meta["epoch"] >= tcfg.epochs:
        return TrainResult(model_name, best_path, last_path, meta["history"], meta["best_metric"], 0,
                           time.perf_counter() - started)

    step_module: Callable[..., Any] = model  # the model, wrapped by DDP and / or torch.compile
    if distributed.is_distributed():
        step_module = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if tcfg.compile:
        step_module = torch.compile(step_module)
    train_batches = loaders.train_loader(train_set, tcfg.batch_size, cfg.seed, cfg.data.num_workers)
    val_batches = loaders.eval_loader(val_set, tcfg.batch_size, cfg.data.num_workers) if val_set is not None and len(val_set) else None
    if saved_rng is not None:
        set_rng_state(saved_rng)
    elif distributed.world_size() > 1:  # same initial weights (DDP broadcasts them), different dropout per rank
        torch.manual_seed(cfg.seed + distributed.rank())
    metrics_log = MetricsLog(out_dir, meta["history"]) if distributed.is_main() else None
    epochs_trained = 0
    try:
        for epoch in range(meta["epoch"], tcfg.epochs):
            loaders.set_epoch(train_batches, cfg.seed, epoch)
            row = _train_one_epoch(step_module, model, optimizer, train_batches, device, cfg, epoch, base_lr,
                                   channels_last, progress, last_path if meta["epoch"] else None)
            distributed.broadcast_buffers(model)  # BN statistics of rank 0 everywhere: one model on all ranks
            if val_batches is not None:
                val = evaluate_model(model, val_batches, device, amp=tcfg.amp, channels_last=channels_last)
                for head, m in val.items():
                    row[f"val_top1_{head}"], row[f"val_top5_{head}"] = m["top1"], m["top5"]
                    row[f"val_loss_{head}"] = m["loss"]
            score = row.get("val_top1_perception", row["train_top1_perception"])
            loss = row.get("val_loss_perception", row["train_loss_perception"])
            is_best = improves(score, loss, meta["best_metric"], meta["best_loss"])
            meta["epoch"] = epoch + 1
            meta["history"] = meta["history"] + [row]
            if is_best:
                meta["best_metric"], meta["best_epoch"], meta["best_loss"] = score, epoch + 1, loss
            if distributed.is_main():
                save_checkpoint(last_path, model, meta, optimizer, rng_state())
                if is_best:
                    save_checkpoint(best_path, model, meta)
                assert metrics_log is not None  # the main rank keeps the log
                metrics_log.append(row)
                log.info("%s epoch %d/%d: %s", model_name, epoch + 1, tcfg.epochs,
                         ", ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch"))
            distributed.barrier()
            epochs_trained += 1
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, row)
    finally:
        if metrics_log is not None:
            metrics_log.close()
    return TrainResult(model_name, best_path, last_path, meta["history"], meta["best_metric"], epochs_trained,
                       time.perf_counter() - started, model.eval())


def _train_one_epoch(step_module: Any, model: VideoAttentionNet, optimizer: torch.optim.Optimizer, batches,
                     device: torch.device, cfg: RunConfig, epoch: int, base_lr: float, channels_last: bool,
                     progress: bool, last_good: Optional[Path]) -> dict[str, Any]:
    """One pass over the training batches; returns the epoch's metrics row (reduced over ranks)."""
    tcfg = cfg.train
    step_module.train()
    heads = model.head_names
    sums = torch.zeros(1 + 3 * len(heads), dtype=torch.float64, device=device)  # n, then per head: loss, top1, top5
    steps_per_epoch = len(batches)
    lr = base_lr
    skipped = 0
    started = time.perf_counter()
    bar = tqdm(batches, desc=f"{model.arch} epoch {epoch + 1}/{tcfg.epochs}", leave=False,
               disable=not progress or not distributed.is_main())
    for i, batch in enumerate(bar):
        skipped += len(batch.get("skipped", ()))
        if batch["label"].numel() == 0 and not distributed.is_distributed():
            continue  # every clip of this batch failed to decode (reported in the row's skipped_clips)
        clips = move_clips(batch["clip"], device, channels_last)
        labels = batch["label"].to(device, non_blocking=True)
        lr = learning_rate(epoch * steps_per_epoch + i, steps_per_epoch, tcfg, base_lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with autocast(device, tcfg.amp):
            out = step_module(clips)
        losses = head_losses(out, labels)
        loss = cast(torch.Tensor, sum(losses.values()))
        bad = (~torch.isfinite(loss)).to(torch.float64)
        if distributed.all_reduce_sum(bad).item() > 0:
            kept = f"the last good checkpoint is kept: {last_good}" if last_good else "no checkpoint was written yet"
            raise StabnBenchError(f"{model.arch}: training loss is {loss.item()} (not finite) at epoch {epoch + 1}, "
                                  f"step {i + 1} (lr {lr:.3g}); stopped, {kept}. Try a lower train.lr or check the data")
        optimizer_step(model, optimizer, loss, tcfg.clip_grad_norm)
        with torch.no_grad():
            n = labels.numel()
            parts = [torch.full((1,), float(n), dtype=torch.float64, device=device)]
            logits = out.heads()
            for head in heads:
                parts.append(losses[head].detach().to(torch.float64).reshape(1) * n)
                parts.append(topk_correct(logits[head].detach().float(), labels))
            sums += torch.cat(parts)
        if progress and i % 10 == 0 and distributed.is_main():
            bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.3g}")
    elapsed = time.perf_counter() - started
    totals = distributed.all_reduce_sum(sums).cpu().tolist()
    n = max(totals[0], 1.0)
    row: dict[str, Any] = {"epoch": epoch + 1, "lr": lr}
    row["train_loss"] = sum(totals[1 + 3 * j] for j in range(len(heads))) / n
    for j, head in enumerate(heads):
        row[f"train_loss_{head}"] = totals[1 + 3 * j] / n
        row[f"train_top1_{head}"] = totals[2 + 3 * j] / n
        row[f"train_top5_{head}"] = totals[3 + 3 * j] / n
    row["clips_per_s"] = totals[0] / max(elapsed, 1e-9)
    row["epoch_time_s"] = elapsed
    if skipped:
        row["skipped_clips"] = skipped
        log.warning("%s epoch %d: %d training clips could not be decoded and were skipped", model.arch, epoch + 1, skipped)
    return row
