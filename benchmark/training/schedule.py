"""Learning-rate schedule of docs/design.md section 2: linear scaling with the batch size, optional linear warm-up,
then step decay (x0.1 at fractions of training) or cosine decay. Pure functions of the global step."""
from __future__ import annotations

import math

from ..config.schema import TrainConfig


def scaled_lr(cfg: TrainConfig, world_size: int = 1) -> float:
    """lr for the global batch (batch_size x world_size), scaled linearly from ``lr`` at ``reference_batch_size``."""
    return cfg.lr * cfg.batch_size * world_size / cfg.reference_batch_size


def learning_rate(step: int, steps_per_epoch: int, cfg: TrainConfig, base_lr: float) -> float:
    """The lr of optimisation step ``step`` (0-based, counted over the whole run)."""
    total = max(1, cfg.epochs * steps_per_epoch)
    warmup = cfg.warmup_epochs * steps_per_epoch
    if step < warmup:
        return base_lr * (step + 1) / warmup
    if cfg.schedule == "cosine":
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * base_lr * (1.0 + math.cos(math.pi * min(1.0, progress)))
    fraction = step / total
    return base_lr * 0.1 ** sum(fraction >= m for m in cfg.milestones)
