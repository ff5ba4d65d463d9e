"""Batch bounds that keep every method within the device's memory, even on a paper-scale clip
(3 x 32 x 224 x 224 on a ResNet-50 ST-ABN).

A gradient method keeps every layer's output of every clip in the batch until its backward pass; a perturbation
method runs batches of perturbed copies. Both are bounded by one number, the clips per pass, chosen here from the
activation memory of one clip measured with forward hooks.
"""
from __future__ import annotations

import weakref

import torch
from torch import nn

#: safety factor over the summed layer outputs (gradients of the kept activations, workspace, fragmentation)
SAFETY_FACTOR = 3.0
#: share of the device's free memory an explanation may take
FREE_MEMORY_SHARE = 0.8

_cache: "weakref.WeakKeyDictionary[nn.Module, dict[tuple, int]]" = weakref.WeakKeyDictionary()


@torch.no_grad()
def activation_bytes_per_clip(model: nn.Module, clip: torch.Tensor) -> int:
    """Bytes of all leaf modules' outputs for one clip (1, C, T, H, W): what a backward pass keeps alive."""
    key = tuple(clip.shape[1:]) + (str(clip.dtype), str(clip.device))
    cached = _cache.setdefault(model, {})
    if key in cached:
        return cached[key]
    total = 0

    def count(module, inputs, output):
        nonlocal total
        for tensor in output if isinstance(output, (tuple, list)) else [output]:
            if isinstance(tensor, torch.Tensor):
                total += tensor.numel() * tensor.element_size()

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(count) for m in leaves]
    try:
        model(clip[:1])
    finally:
        for handle in handles:
            handle.remove()
    cached[key] = total + clip[:1].numel() * clip.element_size()
    return cached[key]


def memory_budget_bytes(device: torch.device, budget_mb: float | None) -> int | None:
    """The explicit budget, else a share of the free CUDA memory; None (no bound) on the CPU."""
    if budget_mb is not None:
        return int(budget_mb * 2**20)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * FREE_MEMORY_SHARE)
    return None


def bounded_batch_size(model: nn.Module, clips: torch.Tensor, requested: int, budget_mb: float | None) -> int:
    """``requested`` clips per pass, lowered (to at least 1) so that a pass fits the memory budget."""
    device = clips.device
    budget = memory_budget_bytes(device, budget_mb)
    if budget is None:
        return requested
    per_clip = activation_bytes_per_clip(model, clips[:1]) * SAFETY_FACTOR
    return max(1, min(requested, int(budget // per_clip)))
