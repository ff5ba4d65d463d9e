"""Measuring the tensor memory a piece of code allocates, on any device, without a profiler.

:class:`LiveTensorMemory` is a ``TorchDispatchMode`` that sees every tensor an operation creates, counts the
bytes of each new storage while the tensor lives and records the peak. Tensors that existed before it was
entered (model weights, the clips) are not counted. It is used once per input shape to estimate the
activation memory of a forward pass (the engine's batch size comes from it) and by ``stabn-bench perf metrics``
to check the engine's peak against its budget. Allocator caches and library workspaces are not tensors and are
not seen.
"""
from __future__ import annotations

import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class LiveTensorMemory(TorchDispatchMode):
    """Peak bytes of tensors created and alive at the same time inside the ``with`` block.

    Attributes:
        live: bytes alive now (created inside the block, not yet freed).
        peak: the largest ``live`` seen.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._storages: dict[int, int] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor) and not tensor.is_meta:
                self._track(tensor)
        return out

    def _track(self, tensor: torch.Tensor) -> None:
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key == 0 or key in self._storages:  # empty, a view, or an in-place result
            return
        nbytes = storage.nbytes()
        self._storages[key] = nbytes
        self.live += nbytes
        self.peak = max(self.peak, self.live)
        weakref.finalize(tensor, self._free, key)

    def _free(self, key: int) -> None:
        nbytes = self._storages.pop(key, 0)
        self.live -= nbytes
