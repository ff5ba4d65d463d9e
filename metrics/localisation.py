"""Localisation of explanations against ground truth (the synthetic data set's evidence masks and windows).

All functions are per clip and return (N,) float64 tensors. A value that is undefined for a clip is NaN, never
a made-up number: an empty evidence mask (pointing games, rank accuracy), a map with no positive mass (energy
pointing game), or an action window covering all frames or none (temporal AUROC).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from .ordering import rank_scores


def pointing_game(maps: torch.Tensor, evidence: torch.Tensor, tolerance: int = 0) -> torch.Tensor:
    """Pointing game (Zhang et al. 2016): is the map's maximum inside the evidence, up to a tolerance?

    The evidence is dilated by ``tolerance`` pixels in every frame (a square of side 2*tolerance+1). When
    several voxels share the maximum the value is the share of them that hit (the expected hit under a
    random tie-break), so a flat map scores the share of the clip covered by the dilated evidence.

    Args:
        maps: (N, T, H, W) attribution maps.
        evidence: (N, T, H, W) ground-truth masks in {0, 1}.
    Returns:
        (N,) hit rate in [0, 1]; NaN where the evidence is empty.
    """
    _check_same_shape(maps, evidence)
    hits_allowed = _dilate(evidence.float() > 0.5, tolerance)
    flat = maps.float().reshape(maps.shape[0], -1)
    is_max = flat == flat.max(dim=1, keepdim=True).values
    hits = (is_max & hits_allowed.reshape_as(is_max)).sum(dim=1).double() / is_max.sum(dim=1).double()
    return _nan_where_empty(hits, evidence)


def energy_pointing_game(maps: torch.Tensor, evidence: torch.Tensor) -> torch.Tensor:
    """Energy-based pointing game / relevance mass (Wang et al. 2020, Arras et al. 2022).

    Share of the map's positive mass that lies inside the evidence mask.

    Args:
        maps: (N, T, H, W); evidence: (N, T, H, W) in {0, 1}.
    Returns:
        (N,) in [0, 1]; NaN where the evidence is empty or the map has no positive value.
    """
    _check_same_shape(maps, evidence)
    positive = maps.double().clamp(min=0).reshape(maps.shape[0], -1)
    inside = (positive * (evidence.reshape(evidence.shape[0], -1) > 0.5)).sum(dim=1)
    total = positive.sum(dim=1)
    energy = torch.where(total > 0, inside / total.clamp(min=torch.finfo(torch.float64).tiny), torch.full_like(total, math.nan))
    return _nan_where_empty(energy, evidence)


def relevance_rank_accuracy(maps: torch.Tensor, evidence: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Relevance rank accuracy (Arras et al. 2022): share of the K most relevant voxels inside the evidence,
    with K the size of the evidence mask. Ties are broken by a random order seeded with ``seed``.

    Args:
        maps: (N, T, H, W); evidence: (N, T, H, W) in {0, 1}.
    Returns:
        (N,) in [0, 1]; NaN where the evidence is empty.
    """
    _check_same_shape(maps, evidence)
    n = maps.shape[0]
    mask = evidence.reshape(n, -1) > 0.5
    ranks = rank_scores(maps.float().reshape(n, -1), "morf", torch.Generator().manual_seed(seed))
    size = mask.sum(dim=1, keepdim=True)
    top = ranks.to(mask.device) < size
    accuracy = (top & mask).sum(dim=1).double() / size.squeeze(1).double().clamp(min=1)
    return _nan_where_empty(accuracy, evidence)


def temporal_auroc(temporal: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """AUROC of the per-frame importance as a detector of the frames inside the action window
    (``sklearn.metrics.roc_auc_score`` per clip; ties count one half).

    Args:
        temporal: (N, T) per-frame importance.
        window: (N, T) 1 for frames inside the action window, else 0.
    Returns:
        (N,) in [0, 1]; NaN where the window holds all frames or none (AUROC is undefined there).
    """
    if temporal.shape != window.shape or temporal.dim() != 2:
        raise ValueError(f"temporal importance and window must both be (N, T), got {tuple(temporal.shape)} and {tuple(window.shape)}")
    scores = temporal.double().cpu().numpy()
    labels = (window.cpu().numpy() > 0.5).astype(np.int64)
    out = np.full(scores.shape[0], np.nan)
    for i in range(scores.shape[0]):
        if 0 < labels[i].sum() < labels.shape[1]:
            out[i] = roc_auc_score(labels[i], scores[i])
    return torch.from_numpy(out)


def _dilate(mask: torch.Tensor, tolerance: int) -> torch.Tensor:
    """(N, T, H, W) bool mask grown by ``tolerance`` pixels in H and W (per frame)."""
    if tolerance <= 0:
        return mask
    size = 2 * tolerance + 1
    grown = F.max_pool3d(mask.float().unsqueeze(1), (1, size, size), stride=1, padding=(0, tolerance, tolerance))
    return grown.squeeze(1) > 0


def _nan_where_empty(values: torch.Tensor, evidence: torch.Tensor) -> torch.Tensor:
    empty = (evidence.reshape(evidence.shape[0], -1) > 0.5).sum(dim=1) == 0
    return torch.where(empty.to(values.device), torch.full_like(values, math.nan), values).cpu()


def _check_same_shape(maps: torch.Tensor, evidence: torch.Tensor) -> None:
    if maps.shape != evidence.shape or maps.dim() != 4:
        raise ValueError(f"maps and evidence must both be (N, T, H, W), got {tuple(maps.shape)} and {tuple(evidence.shape)}")
