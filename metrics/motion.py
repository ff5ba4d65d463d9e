"""Motion of a clip per frame, and how well a per-frame importance follows it (rank correlation).

Used to ask whether ST-ABN's temporal attention M_t peaks on the frames with the most motion (on data without an
action window, e.g. the arrow-of-time task on real footage).
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.stats import rankdata


def frame_motion_energy(clips: torch.Tensor) -> torch.Tensor:
    """Per-frame motion energy: (N, C, T, H, W) -> (N, T).

    Frame t gets the mean over pixels and channels of |x_t - x_{t-1}| and |x_{t+1} - x_t|, averaged over the
    differences that exist (the first and last frame have one neighbour). A clip of one frame has energy 0.
    """
    if clips.ndim != 5:
        raise ValueError(f"clips must be (N, C, T, H, W), got shape {tuple(clips.shape)}")
    n, _, t = clips.shape[:3]
    if t < 2:
        return clips.new_zeros(n, t)
    diff = (clips[:, :, 1:] - clips[:, :, :-1]).abs().mean(dim=(1, 3, 4))   # (N, T-1): step t -> t+1
    total = clips.new_zeros(n, t)
    count = clips.new_zeros(t)
    total[:, 1:] += diff
    total[:, :-1] += diff
    count[1:] += 1
    count[:-1] += 1
    return total / count


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman's rho per row (average ranks for ties): a, b (N, T) -> (N,) float64; NaN where a row is constant."""
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"need two (N, T) tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    ra = rankdata(a.detach().cpu().double().numpy(), axis=1)
    rb = rankdata(b.detach().cpu().double().numpy(), axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    denom = np.sqrt((ra ** 2).sum(axis=1) * (rb ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(denom > 0, (ra * rb).sum(axis=1) / np.where(denom > 0, denom, 1.0), np.nan)
    return torch.from_numpy(rho)


def attention_motion_correlation(temporal: torch.Tensor, clips: torch.Tensor) -> torch.Tensor:
    """Spearman's rho between a per-frame importance (N, T) (e.g. M_t) and the clips' motion energy -> (N,)."""
    motion = frame_motion_energy(clips.float())
    if temporal.shape != motion.shape:
        raise ValueError(f"per-frame importance {tuple(temporal.shape)} does not match clips of "
                         f"{tuple(motion.shape)} (N, T)")
    return rank_correlation(temporal, motion)
