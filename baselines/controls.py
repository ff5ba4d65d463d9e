"""Control methods every serious method must beat; they ignore the model and the target class."""
from __future__ import annotations

import torch
from torch import nn

from .registry import register_method


@register_method("random", cost="free", kind="control")
def random_map(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Uniform noise in [0, 1), drawn from the seeded generator of ``baselines.explain``. Returns (N, T, H, W)."""
    n, _, t, h, w = clips.shape
    return torch.rand(n, t, h, w).to(clips.device)


@register_method("uniform", cost="free", kind="control")
def uniform_map(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Every voxel equally relevant (all ones): the least sparse map there is, the lower bound of the complexity
    metrics (and one tie group for the perturbation curves). Returns (N, T, H, W)."""
    n, _, t, h, w = clips.shape
    return torch.ones(n, t, h, w, device=clips.device)


@register_method("centre-prior", cost="free", kind="control")
def centre_prior(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor, sigma: float = 0.25,
                 window_prior: torch.Tensor | None = None) -> torch.Tensor:
    """The priors of the data, nothing of the clip: a Gaussian centred in every frame (``sigma`` is a fraction of
    the frame's height and width), scaled per frame by the window-placement prior (the probability that a frame
    lies in the action window) where the data has one, else equal across frames. Returns (N, T, H, W).
    """
    n, _, t, h, w = clips.shape
    ys = (torch.arange(h, device=clips.device, dtype=torch.float32) + 0.5) / h - 0.5
    xs = (torch.arange(w, device=clips.device, dtype=torch.float32) + 0.5) / w - 0.5
    frame = torch.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * sigma**2))
    if window_prior is None:
        return frame.expand(n, t, h, w)
    profile = window_prior.to(device=clips.device, dtype=torch.float32).reshape(-1)
    if profile.shape[0] != t:
        raise ValueError(f"window_prior has {profile.shape[0]} frames; the clips have {t}")
    return (profile[:, None, None] * frame).expand(n, t, h, w)


@register_method("motion", cost="free", kind="control")
def motion(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Magnitude of frame differences |x_t - x_{t-1}| per channel (the shared reduction sums them over
    channels); the first frame copies the second. Returns (N, C, T, H, W).
    """
    diff = (clips[:, :, 1:] - clips[:, :, :-1]).abs()
    if diff.shape[2] == 0:  # a single frame has no motion
        return torch.zeros_like(clips)
    return torch.cat([diff[:, :, :1], diff], dim=2)
