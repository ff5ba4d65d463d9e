"""Substrates: what a perturbation puts in place of the input it removes.

Clips are ImageNet-normalised, so every substrate is built in that space:

- ``zero``: zeros, i.e. the ImageNet mean colour;
- ``mean``: the clip's own mean colour (per channel, over T, H, W);
- ``blur``: the clip with every frame blurred by a Gaussian (``torchvision`` ``gaussian_blur``), as in RISE;
- ``mean_frame``: the clip's mean frame (per pixel, over T), for whole-frame tests;
- ``frozen``: every removed frame shows the last kept frame before it (a frozen video); removed frames before
  the first kept one show the first kept frame, and a clip with no kept frame shows its mean frame.

The fixed substrates (all but ``frozen``) are one tensor per clip; ``frozen`` depends on which frames are kept
and is applied by :func:`freeze_removed_frames`.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from torchvision.transforms.v2 import functional as TF

Substrate = Literal["zero", "mean", "blur", "mean_frame", "frozen"]
SUBSTRATES: tuple[str, ...] = ("zero", "mean", "blur", "mean_frame", "frozen")
FIXED_SUBSTRATES: tuple[str, ...] = ("zero", "mean", "blur", "mean_frame")


def fixed_substrate(clips: torch.Tensor, name: str, blur_sigma: float = 5.0) -> torch.Tensor:
    """The substrate of each clip.

    Args:
        clips: (N, C, T, H, W).
        name: one of ``zero``, ``mean``, ``blur``, ``mean_frame``.
        blur_sigma: standard deviation of the Gaussian in pixels (kernel size 2*ceil(3 sigma)+1, at most the
            frame size).
    Returns:
        (N, C, T, H, W) substrate (``mean`` and ``mean_frame`` are expanded views, not copies).
    """
    if name == "zero":
        return torch.zeros_like(clips)
    if name == "mean":
        return clips.mean(dim=(2, 3, 4), keepdim=True).expand_as(clips)
    if name == "mean_frame":
        return clips.mean(dim=2, keepdim=True).expand_as(clips)
    if name == "blur":
        return blur_frames(clips, blur_sigma)
    raise ValueError(f"unknown substrate {name!r}; valid: {', '.join(FIXED_SUBSTRATES)} (and 'frozen' for frame tests)")


def blur_frames(clips: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of every frame of (N, C, T, H, W) clips (reflect padding), same shape."""
    n, c, t, h, w = clips.shape
    kernel = 2 * math.ceil(3 * sigma) + 1
    # the kernel must fit the frame; keep it odd
    kernel_h = min(kernel, h if h % 2 else h - 1)
    kernel_w = min(kernel, w if w % 2 else w - 1)
    if sigma <= 0 or kernel_h < 3 or kernel_w < 3:
        return clips.clone()
    frames = clips.permute(0, 2, 1, 3, 4).reshape(n * t, c, h, w)
    blurred = TF.gaussian_blur(frames, [kernel_w, kernel_h], [sigma, sigma])
    return blurred.reshape(n, t, c, h, w).permute(0, 2, 1, 3, 4).contiguous()


def freeze_removed_frames(clips: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """Replace every removed frame by the last kept frame before it (see the module docstring).

    Args:
        clips: (B, C, T, H, W).
        kept: (B, T) bool, True for frames that stay.
    Returns:
        (B, C, T, H, W).
    """
    b, c, t, h, w = clips.shape
    positions = torch.arange(t, device=clips.device).expand(b, t)
    # index of the last kept frame at or before t (-1 when none)
    last_kept = torch.where(kept, positions, torch.full_like(positions, -1)).cummax(dim=1).values
    # frames before the first kept one take the first kept frame
    first_kept = torch.where(kept, positions, torch.full_like(positions, t)).min(dim=1, keepdim=True).values
    source = torch.where(last_kept >= 0, last_kept, first_kept.expand(b, t))
    any_kept = kept.any(dim=1)
    source = source.clamp(max=t - 1)
    frozen = clips.gather(2, source.view(b, 1, t, 1, 1).expand(b, c, t, h, w))
    if not bool(any_kept.all()):
        mean_frame = clips.mean(dim=2, keepdim=True).expand_as(clips)
        frozen = torch.where(any_kept.view(b, 1, 1, 1, 1), frozen, mean_frame)
    return frozen
