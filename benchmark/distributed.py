"""Multi-process helpers for ``torchrun`` (PyTorch DDP): set-up from the environment, rank facts, reductions, sharding.

Outside ``torchrun`` (no ``WORLD_SIZE`` in the environment) everything degrades to one process: rank 0 of 1.
"""
from __future__ import annotations

import os
from typing import Iterator, Sequence, TypeVar

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

T = TypeVar("T")


def init_from_env(device: torch.device | None = None) -> bool:
    """Join the process group described by torchrun's variables (RANK, WORLD_SIZE, MASTER_ADDR, ...).

    Backend: nccl on CUDA, gloo on CPU. On CUDA each process takes the GPU ``LOCAL_RANK``.
    Returns True when running distributed (already or now initialised).
    """
    if dist.is_available() and dist.is_initialized():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available():
        return False
    use_cuda = (device.type == "cuda") if device is not None else torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return True


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    """True on the process that writes files and prints progress (rank 0)."""
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum a tensor of metric sums (e.g. [loss_sum, correct, count]) over all ranks; returns a new tensor."""
    out = values.detach().clone()
    if is_distributed():
        backend = dist.get_backend()
        if backend == "nccl" and out.device.type != "cuda":
            out = out.cuda()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out.to(values.device)


def broadcast_buffers(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (BatchNorm running statistics) to every rank, so all ranks hold the same model."""
    if is_distributed():
        for buffer in module.buffers():
            dist.broadcast(buffer.data, src)


def shard(items: Sequence[T], rank_: int | None = None, world_size_: int | None = None) -> list[T]:
    """This rank's share of ``items`` (every world_size-th item from its rank): disjoint, covering, no padding."""
    r = rank() if rank_ is None else rank_
    w = world_size() if world_size_ is None else world_size_
    return list(items[r::w])


class ShardSampler(Sampler[int]):
    """Sequential indices of this rank's shard of a data set, without the padding of DistributedSampler,
    so that summed metrics over ranks count every clip exactly once (for evaluation)."""

    def __init__(self, length: int, rank_: int | None = None, world_size_: int | None = None) -> None:
        self.indices = shard(range(length), rank_, world_size_)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
