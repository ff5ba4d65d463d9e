"""Perturbation methods from Captum over spatio-temporal windows: the drop in the target logit when a tube of
the clip is replaced by a constant (0 = the ImageNet mean colour). Each returns an (N, C, T, H, W) attribution.
"""
from __future__ import annotations

from typing import Sequence

import torch
from captum.attr import FeatureAblation, Occlusion
from torch import nn

from .forward import LogitsOnly
from .registry import register_method


def default_tube(clips: torch.Tensor, frames_div: int = 8, space_div: int = 4) -> tuple[int, int, int]:
    """A (t, h, w) tube that splits (T, H, W) into about ``frames_div`` x ``space_div`` x ``space_div`` cells."""
    _, _, t, h, w = clips.shape
    return max(1, t // frames_div), max(1, h // space_div), max(1, w // space_div)


def _size3(name: str, value: Sequence[int] | int) -> tuple[int, int, int]:
    size = (value,) * 3 if isinstance(value, int) else tuple(int(v) for v in value)
    if len(size) != 3 or min(size) < 1:
        raise ValueError(f"option '{name}' must be three positive integers (frames, height, width), got {value!r}")
    return size[0], size[1], size[2]


def tube_ids(shape: tuple[int, int, int], tube: tuple[int, int, int], device: torch.device) -> torch.Tensor:
    """(T, H, W) -> (1, 1, T, H, W) int64 id of the non-overlapping tube each voxel belongs to."""
    grids = [torch.arange(size, device=device) // step for size, step in zip(shape, tube)]
    counts = [(size + step - 1) // step for size, step in zip(shape, tube)]
    ids = (grids[0][:, None, None] * counts[1] + grids[1][None, :, None]) * counts[2] + grids[2][None, None, :]
    return ids[None, None]


@register_method("occlusion", cost="many-forwards", kind="perturbation")
def occlusion(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor, window: Sequence[int] | None = None,
              stride: Sequence[int] | None = None, baseline: float = 0.0, batch_size: int = 8) -> torch.Tensor:
    """Occlusion (Captum) with overlapping 3D windows over all colour channels.

    ``window`` (t, h, w) defaults to (T/8, H/4, W/4) and ``stride`` to (T/8, H/8, W/8): windows overlap by half
    in space and tile time (8 x 7 x 7 = 392 forward passes per clip); at most ``batch_size`` occluded clips per
    forward pass.
    """
    size = _size3("window", window) if window is not None else default_tube(clips)
    step = _size3("stride", stride) if stride is not None else (size[0], max(1, size[1] // 2), max(1, size[2] // 2))
    channels = clips.shape[1]
    return Occlusion(LogitsOnly(model)).attribute(
        clips, sliding_window_shapes=(channels, *size), strides=(channels, *step), baselines=baseline,
        target=targets, perturbations_per_eval=max(1, batch_size // clips.shape[0]))


@register_method("feature-ablation", cost="many-forwards", kind="perturbation")
def feature_ablation(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor, tube: Sequence[int] | None = None,
                     baseline: float = 0.0, batch_size: int = 8) -> torch.Tensor:
    """Feature ablation (Captum) over non-overlapping spatio-temporal tubes (all colour channels together).

    ``tube`` (t, h, w) defaults to (T/8, H/4, W/4); at most ``batch_size`` ablated clips per forward pass.
    """
    size = _size3("tube", tube) if tube is not None else default_tube(clips)
    t, h, w = clips.shape[2:]
    mask = tube_ids((t, h, w), size, clips.device)
    return FeatureAblation(LogitsOnly(model)).attribute(
        clips, baselines=baseline, target=targets, feature_mask=mask,
        perturbations_per_eval=max(1, batch_size // clips.shape[0]))
