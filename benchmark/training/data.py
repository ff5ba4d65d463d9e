"""DataLoaders for training and evaluation, single-process or sharded over DDP ranks."""
from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from .. import distributed


def collate(items: list[Any]) -> dict[str, Any]:
    """The data sets' collate function (``benchmark.data.collate_clips``: drops clips that failed to decode)."""
    from ..data import collate_clips

    return collate_clips(items)


def train_loader(dataset: Dataset, batch_size: int, seed: int, num_workers: int = 0) -> DataLoader:
    """Shuffled batches of this rank's share; call :func:`set_epoch` before each epoch.

    The order depends only on (seed, epoch), so a resumed run sees the same batches as an uninterrupted one.
    Incomplete last batches are dropped (BatchNorm needs more than one clip)."""
    sampler: DistributedSampler = DistributedSampler(dataset, num_replicas=distributed.world_size(), rank=distributed.rank(),
                                 shuffle=True, seed=seed)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      collate_fn=collate, drop_last=len(sampler) >= batch_size,
                      pin_memory=torch.cuda.is_available(), persistent_workers=num_workers > 0,
                      generator=torch.Generator().manual_seed(seed))


def eval_loader(dataset: Any, batch_size: int, num_workers: int = 0) -> DataLoader:
    """Batches of this rank's shard in order, every clip on exactly one rank (no padding)."""
    sampler = distributed.ShardSampler(len(dataset))
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers, collate_fn=collate,
                      pin_memory=torch.cuda.is_available())


def set_epoch(loader: DataLoader, seed: int, epoch: int) -> None:
    """Fix the shuffle order and the workers' seeds of ``epoch`` from (seed, epoch) alone."""
    sampler: Any = loader.sampler  # the DistributedSampler of train_loader
    sampler.set_epoch(epoch)
    loader.generator.manual_seed(seed * 100_003 + epoch)
