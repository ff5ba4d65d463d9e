"""Complexity of explanations: how concentrated a map's relevance is. Pure functions of the maps (no model).

Both scores are computed on the map's absolute values (a map's sign does not make it simpler), either over the
whole space-time volume or per frame (the mean over the frames):

- **sparseness** (Chalasani et al. 2020; Quantus ``Sparseness``): the Gini coefficient of the absolute values,
  ``G = sum_i (2i - n - 1) a_(i) / (n sum_i a_i)`` with ``a_(1) <= ... <= a_(n)`` sorted ascending, divided by its
  largest value ``1 - 1/n`` so that 1 = all relevance on one cell at any map size, 0 = every cell equal. Higher is better (a concise explanation).
- **complexity** (Bhatt et al. 2020; Quantus ``Complexity``): the Shannon entropy (natural log) of the map's
  normalised absolute values ``p_i = a_i / sum a``, ``H = -sum p_i ln p_i``, divided by ``ln n`` so that it lies
  in [0, 1] for any map size: 0 = one cell, 1 = uniform. Lower is better.

A map with no mass (all zeros) has no distribution: both scores are NaN there, never a made-up number.
"""
from __future__ import annotations

import math

import torch


def gini(values: torch.Tensor) -> torch.Tensor:
    """Gini coefficient of the absolute values of each row.

    Args:
        values: (M, P) values (any sign).
    Returns:
        (M,) float64 in [0, 1]; NaN where a row has no mass.

    The plain coefficient of a one-hot row is ``1 - 1/P``; it is divided by that so that a one-hot row scores
    exactly 1 at every map size (P = 1 gives NaN: one cell is neither sparse nor dense).
    """
    a = values.double().abs().sort(dim=1).values
    _, p = a.shape
    total = a.sum(dim=1)
    index = torch.arange(1, p + 1, dtype=torch.float64, device=a.device)
    plain = ((2 * index - p - 1) * a).sum(dim=1) / (p * total.clamp(min=torch.finfo(torch.float64).tiny))
    scaled = plain / (1.0 - 1.0 / p) if p > 1 else torch.full_like(plain, math.nan)
    return torch.where(total > 0, scaled, torch.full_like(plain, math.nan)).cpu()


def normalised_entropy(values: torch.Tensor) -> torch.Tensor:
    """Shannon entropy of each row's normalised absolute values, divided by ``ln P`` (in [0, 1]).

    Args:
        values: (M, P).
    Returns:
        (M,) float64; NaN where a row has no mass or P = 1.
    """
    a = values.double().abs()
    _, p = a.shape
    total = a.sum(dim=1, keepdim=True)
    prob = a / total.clamp(min=torch.finfo(torch.float64).tiny)
    entropy = -(torch.where(prob > 0, prob * prob.log(), torch.zeros_like(prob))).sum(dim=1)
    scaled = entropy / math.log(p) if p > 1 else torch.full_like(entropy, math.nan)
    return torch.where(total.squeeze(1) > 0, scaled, torch.full_like(scaled, math.nan)).cpu()


def sparseness(maps: torch.Tensor) -> torch.Tensor:
    """Gini sparseness of each clip's whole space-time map.

    Args:
        maps: (N, T, H, W).
    Returns:
        (N,) float64 in [0, 1]; NaN for an all-zero map.
    """
    _check(maps)
    return gini(maps.reshape(maps.shape[0], -1))


def sparseness_per_frame(maps: torch.Tensor) -> torch.Tensor:
    """Gini sparseness of each frame, averaged over the frames with mass.

    Args:
        maps: (N, T, H, W).
    Returns:
        (N,) float64; NaN where no frame has mass.
    """
    _check(maps)
    n, t = maps.shape[:2]
    return _nanmean_frames(gini(maps.reshape(n * t, -1)).reshape(n, t))


def complexity(maps: torch.Tensor) -> torch.Tensor:
    """Normalised entropy of each clip's whole space-time map.

    Args:
        maps: (N, T, H, W).
    Returns:
        (N,) float64 in [0, 1]; NaN for an all-zero map.
    """
    _check(maps)
    return normalised_entropy(maps.reshape(maps.shape[0], -1))


def complexity_per_frame(maps: torch.Tensor) -> torch.Tensor:
    """Normalised entropy of each frame, averaged over the frames with mass.

    Args:
        maps: (N, T, H, W).
    Returns:
        (N,) float64; NaN where no frame has mass.
    """
    _check(maps)
    n, t = maps.shape[:2]
    return _nanmean_frames(normalised_entropy(maps.reshape(n * t, -1)).reshape(n, t))


def _nanmean_frames(per_frame: torch.Tensor) -> torch.Tensor:
    """(N,) mean of (N, T) over the finite values; NaN where none is finite."""
    finite = torch.isfinite(per_frame)
    total = torch.where(finite, per_frame, torch.zeros_like(per_frame)).sum(dim=1)
    count = finite.sum(dim=1)
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, math.nan))


def _check(maps: torch.Tensor) -> None:
    if maps.dim() != 4:
        raise ValueError(f"maps must have shape (N, T, H, W), got {tuple(maps.shape)}")
