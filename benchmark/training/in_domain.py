"""In-domain deletion: fine-tune a trained model on clips with random tube deletions.

A deletion curve feeds the model inputs it never saw in training (blurred or blanked tubes), so a probability drop
may measure the distribution shift rather than lost evidence (Hooker et al., ROAR, 2019; Rong et al., ROAD, ICML
2022; Hesse et al., in-domain single-deletion score, NeurIPS 2024). Here each trained model is fine-tuned briefly
on training clips in which a random share of the tubes (``metrics.tube_size``) is replaced by the deletion metric's
own substrate (``metrics.substrate``, ``metrics.blur_sigma``); the result is scored as model ``<model>+indomain``
beside the plain one. Settings: ``metrics.in_domain`` (:class:`~benchmark.config.schema.InDomainConfig`).

The fine-tuned checkpoint is cached like the trained ones, in ``<checkpoint_dir>/<model>+indomain-<hash>/``
(``last.pt``, ``metrics.csv``); the hash covers the base checkpoint folder and every setting of the fine-tuning.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, cast

import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from stabn_bench.metrics.ordering import map_ranks
from stabn_bench.metrics.substrates import fixed_substrate, noisy_linear_imputation

from .. import distributed
from ..config import RunConfig, to_dict
from ..errors import StabnBenchError
from ..runtime import autocast, seed_everything, select_device
from . import data as loaders
from .checkpoint import load_model, read_checkpoint, save_checkpoint
from .evaluation import evaluate_model
from .history import MetricsLog
from .loop import checkpoint_folder, head_losses, optimizer_step
from .schedule import scaled_lr

log = logging.getLogger("stabn_bench")

#: the model name of a fine-tuned model in every result table: ``stabn+indomain``
IN_DOMAIN_SUFFIX = "+indomain"


def in_domain_name(model_name: str) -> str:
    return f"{model_name}{IN_DOMAIN_SUFFIX}"


def is_in_domain(model_name: str) -> bool:
    return model_name.endswith(IN_DOMAIN_SUFFIX)


@dataclass
class InDomainResult:
    """Where a fine-tuned model is and how fine-tuning went (``epochs_trained`` = 0 when it came from the cache)."""

    model_name: str
    path: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    epochs_trained: int = 0
    wall_time_s: float = 0.0


def in_domain_folder(cfg: RunConfig, model_name: str) -> Path:
    """``<checkpoint_dir>/<model>+indomain-<hash>``; the hash covers the base model's folder (its training config)
    and everything that changes the fine-tuned weights."""
    m = cfg.metrics
    keyed = {"base": checkpoint_folder(cfg, model_name).name, "in_domain": {
        k: v for k, v in to_dict(m.in_domain).items() if k in ("epochs", "fraction", "lr_scale")},
        "substrate": m.substrate, "blur_sigma": m.blur_sigma, "tube_size": list(m.tube_size),
        "road_noise": m.road_noise}
    digest = hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:10]
    return Path(cfg.checkpoint_dir) / f"{in_domain_name(model_name)}-{digest}"


def random_tube_deletion(
    clips: torch.Tensor,
    fraction: Sequence[float],
    tube_size: Sequence[int],
    substrate: str,
    blur_sigma: float,
    generator: torch.Generator,
    road_noise: float = 0.05,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace a random share of each clip's tubes by the substrate.

    Clip i loses ``round(f_i * cells)`` tubes in a random order (the deletion metric's tube cells and random
    order, :func:`metrics.ordering.map_ranks`), ``f_i`` uniform in ``[fraction[0], fraction[1]]``.

    Args:
        clips: (N, C, T, H, W) normalised clips.
        fraction: (low, high) share of the tubes deleted.
        tube_size: (t, h, w) of a tube.
        substrate: ``zero``, ``mean``, ``blur`` or ``road`` (noisy linear imputation of the deleted voxels from the
            kept ones, noise std ``road_noise``; the noise is drawn afresh for every call).
        generator: CPU generator for the shares, the orders and the road noise (seeded by the caller).
    Returns:
        ((N, C, T, H, W) clips with the deletions, (N,) share of the voxels deleted).
    """
    n, _, t, h, w = clips.shape
    low, high = float(fraction[0]), float(fraction[1])
    ranks = map_ranks(torch.zeros(n, t, h, w), "tube", "random", generator, tube_size)  # all tied: a random order
    shares = low + (high - low) * torch.rand(n, generator=generator)
    cells = torch.round(shares * ranks.num_cells).to(torch.int32)
    deleted = (ranks.ranks < cells.view(n, 1, 1, 1)).to(clips.device)  # (N, T, H, W)
    if substrate == "road":
        noise = (torch.randn(clips.shape, generator=generator) * road_noise).to(clips.device, clips.dtype)
        out = noisy_linear_imputation(clips, ~deleted, noise)
    else:
        out = torch.where(deleted.unsqueeze(1), fixed_substrate(clips, substrate, blur_sigma), clips)
    return out, deleted.reshape(n, -1).float().mean(dim=1).cpu()


def fine_tune_in_domain(
    cfg: RunConfig,
    model_name: str,
    base_checkpoint: str | Path,
    out_dir: Optional[str | Path] = None,
    progress: bool = True,
    datasets: Optional[Mapping[str, Dataset]] = None,
) -> InDomainResult:
    """Fine-tune the trained ``model_name`` (checkpoint ``base_checkpoint``) on random tube deletions.

    SGD with the training recipe's momentum and weight decay; lr = ``in_domain.lr_scale`` x the recipe's base lr,
    cosine-decayed to 0 over the fine-tuning steps; loss = the training loss (every head's cross-entropy). A
    finished fine-tuning in ``out_dir`` (default :func:`in_domain_folder`) is returned without training again.
    Under ``torchrun`` the main process fine-tunes and the others wait for its checkpoint.

    Args:
        datasets: {"train": ..., "val": ...} to use instead of ``build_dataset(cfg.data, ...)``.
    """
    started = time.perf_counter()
    icfg = cfg.metrics.in_domain
    out_dir = Path(out_dir) if out_dir is not None else in_domain_folder(cfg, model_name)
    last_path = out_dir / "last.pt"
    name = in_domain_name(model_name)
    if last_path.is_file():
        meta = read_checkpoint(last_path)["meta"]
        if meta.get("epoch", 0) >= icfg.epochs:
            return InDomainResult(name, last_path, meta.get("history", []), 0, time.perf_counter() - started)
    history: list[dict[str, Any]] = []
    if distributed.is_main():
        history = _fine_tune(cfg, model_name, Path(base_checkpoint), out_dir, progress, datasets)
    distributed.barrier()
    return InDomainResult(name, last_path, history, icfg.epochs, time.perf_counter() - started)


def _fine_tune(cfg: RunConfig, model_name: str, base_checkpoint: Path, out_dir: Path, progress: bool,
               datasets: Optional[Mapping[str, Dataset]]) -> list[dict[str, Any]]:
    icfg, tcfg, mcfg = cfg.metrics.in_domain, cfg.train, cfg.metrics
    device = select_device(cfg.device)
    if device.type == "cuda" and distributed.is_distributed():
        device = torch.device("cuda", distributed.local_rank())
    seed_everything(cfg.seed, tcfg.deterministic)
    model, base_meta = load_model(base_checkpoint, device)
    train_set, val_set = _datasets(cfg, datasets)
    base_lr = scaled_lr(tcfg, 1) * icfg.lr_scale
    optimizer = torch.optim.SGD(model.parameters(), lr=base_lr, momentum=tcfg.momentum, nesterov=tcfg.nesterov,
                                weight_decay=tcfg.weight_decay)
    batches = loaders.train_loader(train_set, tcfg.batch_size, cfg.seed, cfg.data.num_workers)
    val_batches = loaders.eval_loader(val_set, tcfg.batch_size, cfg.data.num_workers) if val_set is not None and len(val_set) else None
    generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + 17)
    total_steps = max(1, icfg.epochs * len(batches))
    history: list[dict[str, Any]] = []
    metrics_log = MetricsLog(out_dir, tensorboard=False)
    step = 0
    try:
        for epoch in range(icfg.epochs):
            loaders.set_epoch(batches, cfg.seed + 1, epoch)  # another order than the training epochs saw
            model.train()
            n_seen, loss_sum, deleted_sum = 0, 0.0, 0.0
            epoch_started = time.perf_counter()
            for batch in tqdm(batches, desc=f"{in_domain_name(model_name)} epoch {epoch + 1}/{icfg.epochs}",
                              leave=False, disable=not progress):
                if batch["label"].numel() == 0:
                    continue
                lr = 0.5 * base_lr * (1.0 + math.cos(math.pi * step / total_steps))
                for group in optimizer.param_groups:
                    group["lr"] = lr
                clips = batch["clip"].to(device)
                labels = batch["label"].to(device)
                with torch.no_grad():
                    clips, shares = random_tube_deletion(clips, icfg.fraction, mcfg.tube_size, mcfg.substrate,
                                                         mcfg.blur_sigma, generator, mcfg.road_noise)
                with autocast(device, tcfg.amp):
                    out = model(clips)
                loss = cast(torch.Tensor, sum(head_losses(out, labels).values()))
                if not torch.isfinite(loss):
                    raise StabnBenchError(f"{in_domain_name(model_name)}: fine-tuning loss is {loss.item()} (not "
                                          f"finite) at epoch {epoch + 1}; try a lower metrics.in_domain.lr_scale")
                optimizer_step(model, optimizer, loss, tcfg.clip_grad_norm)
                step += 1
                n = labels.numel()
                n_seen += n
                loss_sum += float(loss.detach()) * n
                deleted_sum += float(shares.sum())
            row: dict[str, Any] = {"epoch": epoch + 1, "lr": base_lr, "train_loss": loss_sum / max(n_seen, 1),
                                   "mean_deleted_share": deleted_sum / max(n_seen, 1),
                                   "epoch_time_s": time.perf_counter() - epoch_started}
            if val_batches is not None:
                for head, m in evaluate_model(model, val_batches, device, amp=tcfg.amp).items():
                    row[f"val_top1_{head}"], row[f"val_top5_{head}"] = m["top1"], m["top5"]
            history.append(row)
            metrics_log.append(row)
            log.info("%s epoch %d/%d: %s", in_domain_name(model_name), epoch + 1, icfg.epochs,
                     ", ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch"))
    finally:
        metrics_log.close()
    meta = {**base_meta, "epoch": icfg.epochs, "history": history, "base_checkpoint": str(base_checkpoint),
            "in_domain": {**to_dict(icfg), "substrate": mcfg.substrate, "blur_sigma": mcfg.blur_sigma,
                          "road_noise": mcfg.road_noise, "tube_size": list(mcfg.tube_size)}}
    save_checkpoint(out_dir / "last.pt", model.eval(), meta)
    return history


def _datasets(cfg: RunConfig, datasets: Optional[Mapping[str, Dataset]]) -> tuple[Any, Optional[Any]]:
    # (train, validation): map-style data sets with ``classes`` and a length
    if datasets is not None:
        return datasets["train"], datasets.get("val")
    from ..data import build_dataset

    return (build_dataset(cfg.data, cfg.data.train_split, train=True),
            build_dataset(cfg.data, cfg.data.val_split, train=False))


def in_domain_config(cfg: RunConfig) -> RunConfig:
    """The config the fine-tuned models are explained and scored with: ``in_domain.methods`` and
    ``in_domain.metrics`` in place of ``explain.methods`` and ``metrics.metrics``."""
    import dataclasses

    icfg = cfg.metrics.in_domain
    return dataclasses.replace(
        cfg, explain=dataclasses.replace(cfg.explain, methods=list(icfg.methods)),
        metrics=dataclasses.replace(cfg.metrics, metrics=list(icfg.metrics)),
    )
