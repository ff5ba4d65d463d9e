"""Oracle controls: explanations built from the ground truth, not from the model (kind ``oracle``).

They bound every metric from both sides on data with ground truth: a metric that measures what it claims
scores ``oracle`` above ``random`` and ``random`` above ``inverse-oracle``. They need the batch's ground truth
(:data:`stabn_bench.baselines.registry.GROUND_TRUTH_INPUTS`), which ``baselines.explain`` passes to the methods
that name it in their signature; on data without ground truth the run skips them.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.transforms.v2 import functional as TF

from .registry import RawAttribution, register_method


def oracle_map(evidence: torch.Tensor, window: torch.Tensor, sigma: float) -> torch.Tensor:
    """(N, T, H, W) evidence (N, T, H, W) blurred per frame by a Gaussian of ``sigma`` x the frame's larger side,
    at full weight on the frames of the action window (N, T) and half weight on the others, in [0, 1]."""
    n, t, h, w = evidence.shape
    maps = evidence.float()
    pixels = sigma * max(h, w)
    if pixels > 0:
        kernel = 2 * math.ceil(3 * pixels) + 1
        size = [min(kernel, w if w % 2 else w - 1), min(kernel, h if h % 2 else h - 1)]
        if min(size) >= 3:
            maps = TF.gaussian_blur(maps.reshape(n * t, 1, h, w), size, [pixels, pixels]).reshape(n, t, h, w)
    peak = maps.amax(dim=(2, 3), keepdim=True).clamp(min=1e-12)
    return maps / peak * (0.5 + 0.5 * window.float()[:, :, None, None])


@register_method("oracle", cost="free", kind="oracle")
def oracle(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor, evidence: torch.Tensor, action_window: torch.Tensor,
           sigma: float = 0.015) -> RawAttribution:
    """The ground truth as an explanation: the target's pixels, lightly smoothed (``sigma`` = fraction of the
    frame's larger side), strongest in the action window; per-frame importance = the window. (N, T, H, W)."""
    return RawAttribution(oracle_map(evidence, action_window, sigma), temporal=action_window.float())


@register_method("inverse-oracle", cost="free", kind="oracle")
def inverse_oracle(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor, evidence: torch.Tensor,
                   action_window: torch.Tensor, sigma: float = 0.015) -> RawAttribution:
    """The oracle upside down (1 - oracle): everything but the evidence first; per-frame importance = the frames
    outside the window. (N, T, H, W)."""
    return RawAttribution(1.0 - oracle_map(evidence, action_window, sigma), temporal=1.0 - action_window.float())
