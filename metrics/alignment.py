"""Alignment of a model's own attention with the ground truth, at the attention's native resolution.

The question of the ST-ABN paper: does the spatial attention M_s point at the evidence, and does the temporal
attention M_t weight the frames of the action? Answered per clip by Spearman rank correlations:

- :func:`spatial_alignment`: M_s (N, T, h, w) against the evidence mask (N, T, H, W) area-pooled to (T, h, w)
  (each cell holds the share of its pixels that are evidence), over the cells of the frames that hold evidence
  (the action window: outside it the mask is empty and says nothing about *where* to look);
- :func:`temporal_alignment`: M_t (N, T) against the action window (N, T) in {0, 1}.

Ties share their mean rank (a binary window gives the rank-biserial form of the correlation). A clip whose
attention or reference is constant over the compared cells gets NaN (no ranking to compare).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats

__all__ = ["pool_to_grid", "spearman_rows", "spatial_alignment", "temporal_alignment"]


def pool_to_grid(mask: torch.Tensor, grid: Sequence[int]) -> torch.Tensor:
    """Area-pool a mask (N, T, H, W) to ``grid`` = (t, h, w): (N, t, h, w), each cell the mean of its pixels.

    With H, W, T divisible by h, w, t a cell is exactly the share of evidence pixels in its block; otherwise the
    blocks of :func:`torch.nn.functional.adaptive_avg_pool3d` (which may overlap by a pixel) are used.
    """
    if mask.ndim != 4:
        raise ValueError(f"pool_to_grid: expected a mask (N, T, H, W), got shape {tuple(mask.shape)}")
    t, h, w = (int(g) for g in grid)
    return F.adaptive_avg_pool3d(mask.float()[:, None], (t, h, w))[:, 0]


def spearman_rows(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor,
                  valid: np.ndarray | torch.Tensor | None = None) -> np.ndarray:
    """Spearman correlation of each row of ``a`` with the same row of ``b`` (both (N, M)): (N,) float64.

    ``valid`` (N, M) bool restricts row i to its True entries. Ties share their mean rank; a row with fewer than
    two entries, or constant over its entries in ``a`` or ``b``, gives NaN.
    """
    a, b = _numpy(a).reshape(len(a), -1), _numpy(b).reshape(len(b), -1)
    if a.shape != b.shape:
        raise ValueError(f"spearman_rows: shapes differ: {a.shape} vs {b.shape}")
    keep = np.ones(a.shape, dtype=bool) if valid is None else _numpy(valid).reshape(a.shape).astype(bool)
    out = np.full(len(a), np.nan)
    for i in range(len(a)):
        x, y = a[i, keep[i]], b[i, keep[i]]
        if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
            continue
        out[i] = stats.spearmanr(x, y).statistic
    return out


def spatial_alignment(attention: torch.Tensor, evidence: torch.Tensor) -> np.ndarray:
    """Per clip Spearman of M_s (N, T, h, w) with the evidence mask (N, T', H, W) pooled to (T, h, w): (N,).

    Only the frames whose pooled evidence is non-empty are compared; a clip without evidence gives NaN.
    """
    if attention.ndim != 4 or evidence.ndim != 4 or len(attention) != len(evidence):
        raise ValueError(f"spatial_alignment: need attention (N, T, h, w) and evidence (N, T, H, W), got "
                         f"{tuple(attention.shape)} and {tuple(evidence.shape)}")
    pooled = pool_to_grid(evidence, tuple(attention.shape[1:]))
    frames = pooled.flatten(2).amax(dim=2) > 0                                  # (N, T): frames with evidence
    valid = frames[:, :, None, None].expand_as(pooled)
    return spearman_rows(attention, pooled, valid)


def temporal_alignment(attention: torch.Tensor, window: torch.Tensor) -> np.ndarray:
    """Per clip Spearman of M_t (N, T) with the action window (N, T) in {0, 1}: (N,)."""
    if attention.ndim != 2 or attention.shape != window.shape:
        raise ValueError(f"temporal_alignment: need attention and window of the same shape (N, T), got "
                         f"{tuple(attention.shape)} and {tuple(window.shape)}")
    return spearman_rows(attention, window.float())


def _numpy(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().float().cpu().numpy().astype(np.float64)
    return np.asarray(values, dtype=np.float64)
