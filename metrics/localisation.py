"""Localisation of explanations against ground truth (the synthetic data set's evidence masks and windows).

All functions are per clip and return (N,) float64 tensors. A value that is undefined for a clip is NaN, never
a made-up number: no frame with evidence (pointing games, rank accuracy), a map with no positive mass on those
frames (energy pointing game), or an action window covering all frames or none (temporal AUROC).

Spatial localisation is scored **per frame**, over the frames where the target is present (the evidence is
the target's pixels on every frame it is visible in), and averaged over those frames: a map that finds the
target on a frame outside the action window is right there. The **native** pointing game scores at the
method's own grid (the map pooled to it by block means), so tied upsampled blocks do not decide it, and every
localisation score has a **ceiling**: what a perfect map at the method's native resolution reaches
(:func:`native_oracle_map`).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score


def pointing_game(maps: torch.Tensor, evidence: torch.Tensor, tolerance: int = 0) -> torch.Tensor:
    """Pointing game (Zhang et al. 2016) per frame: is each frame's maximum inside the evidence, up to a tolerance?

    The evidence is dilated by ``tolerance`` pixels in every frame (a square of side 2*tolerance+1). When
    several pixels share a frame's maximum the frame scores the share of them that hit (the expected hit under a
    random tie-break), so a flat frame scores the share of it covered by the dilated evidence.

    Args:
        maps: (N, T, H, W) attribution maps.
        evidence: (N, T, H, W) ground-truth masks in {0, 1}.
    Returns:
        (N,) mean hit rate over the frames with evidence, in [0, 1]; NaN where no frame has evidence.
    """
    _check_same_shape(maps, evidence)
    n, t = maps.shape[:2]
    hits_allowed = _dilate(evidence.float() > 0.5, tolerance).reshape(n, t, -1)
    return _mean_over_present_frames(_frame_hits(maps.float().reshape(n, t, -1), hits_allowed), evidence)


def pointing_game_native(maps: torch.Tensor, evidence: torch.Tensor, native_shape: Optional[Sequence[int]]) -> torch.Tensor:
    """Pointing game per frame at the method's native spatial grid (h, w), not decided by tied upsampled blocks.

    Each frame of the map is pooled to (h, w) by block means (``adaptive_avg_pool2d``, which for an upsampled
    coarse map recovers its cells and for a fine map averages blocks); the frame hits when its best cell holds a
    target pixel (ties: the share of tied cells that do). Without a native shape (None) the input grid is used.

    Args:
        maps, evidence: (N, T, H, W).
        native_shape: (T', h, w) of the method's raw map; only (h, w) is used.
    Returns:
        (N,) mean over the frames with evidence; NaN where none has evidence or the native grid is one cell
        (a per-frame profile broadcast over space points nowhere).
    """
    _check_same_shape(maps, evidence)
    n, t, h, w = maps.shape
    grid = (h, w) if native_shape is None else (int(native_shape[-2]), int(native_shape[-1]))
    if grid[0] * grid[1] == 1:
        return torch.full((n,), math.nan, dtype=torch.float64)
    pooled = F.adaptive_avg_pool2d(maps.float().reshape(n * t, 1, h, w), grid).reshape(n, t, -1)
    holds = F.adaptive_max_pool2d((evidence.float() > 0.5).float().reshape(n * t, 1, h, w), grid).reshape(n, t, -1) > 0
    return _mean_over_present_frames(_frame_hits(pooled, holds), evidence)


def energy_pointing_game(maps: torch.Tensor, evidence: torch.Tensor) -> torch.Tensor:
    """Energy-based pointing game / relevance mass (Wang et al. 2020, Arras et al. 2022), per frame.

    Share of each frame's positive mass that lies inside the evidence mask, averaged over the frames with
    evidence whose map has positive mass.

    Args:
        maps: (N, T, H, W); evidence: (N, T, H, W) in {0, 1}.
    Returns:
        (N,) in [0, 1]; NaN where no frame has both evidence and positive mass.
    """
    _check_same_shape(maps, evidence)
    n, t = maps.shape[:2]
    positive = maps.double().clamp(min=0).reshape(n, t, -1)
    inside = (positive * (evidence.reshape(n, t, -1) > 0.5)).sum(dim=2)
    total = positive.sum(dim=2)
    energy = torch.where(total > 0, inside / total.clamp(min=torch.finfo(torch.float64).tiny), torch.full_like(total, math.nan))
    return _mean_over_present_frames(energy, evidence)


def native_oracle_map(evidence: torch.Tensor, native_shape: Optional[Sequence[int]]) -> torch.Tensor:
    """The best map a method with raw maps of ``native_shape`` (T', h, w) can give: the evidence averaged over
    each native cell, brought back to (T, H, W) the way the method's maps are (trilinear, see
    :mod:`stabn_bench.baselines.postprocess`). Scoring it gives a localisation score's ceiling for that method.

    Args:
        evidence: (N, T, H, W) in {0, 1}.
    Returns:
        (N, T, H, W) float32 (the evidence itself when the native shape is None or the input's).
    """
    evidence = evidence.float()
    size = tuple(evidence.shape[1:])
    if native_shape is None or tuple(int(v) for v in native_shape) == size:
        return evidence
    t, h, w = (int(v) for v in native_shape)
    pooled = F.adaptive_avg_pool3d(evidence.unsqueeze(1), (t, h, w))
    return F.interpolate(pooled, size=size, mode="trilinear", align_corners=False).squeeze(1)


def relevance_rank_accuracy(maps: torch.Tensor, evidence: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Relevance rank accuracy (Arras et al. 2022) per frame: share of each frame's K most relevant pixels inside
    the evidence, with K the size of that frame's evidence, averaged over the frames that show the target (like
    the pointing games). A tie group cut by the top K counts by its expected hits under a random tie-break (so
    the value does not depend on any seed).

    Args:
        maps: (N, T, H, W); evidence: (N, T, H, W) in {0, 1}.
    Returns:
        (N,) in [0, 1]; NaN where no frame has evidence.
    """
    _check_same_shape(maps, evidence)
    del seed  # ties are scored by their expectation (kept for callers that pass it)
    n, t = maps.shape[:2]
    per_frame = _top_k_hit_share(maps.float().reshape(n * t, -1), evidence.reshape(n * t, -1) > 0.5).reshape(n, t)
    return _mean_over_present_frames(per_frame, evidence)


def _top_k_hit_share(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(M,) share of the top-K scores of each row inside its mask, K = the mask's size (0 where the mask is empty).

    Args:
        scores: (M, P) relevance; mask: (M, P) bool.
    """
    mask = mask.to(scores.device)
    size = mask.sum(dim=1, keepdim=True)  # K
    # the K-th largest score: cells above it are in the top K; the tie group at it is cut, and each of its
    # cells is in the top K with probability (K - #above) / #group under a random tie-break
    ordered = scores.sort(dim=1, descending=True).values
    kth = ordered.gather(1, (size - 1).clamp(min=0))
    above, tied = scores > kth, scores == kth
    share = (size - above.sum(dim=1, keepdim=True)).double() / tied.sum(dim=1, keepdim=True).double().clamp(min=1)
    hits = (above & mask).sum(dim=1).double() + share.squeeze(1) * (tied & mask).sum(dim=1).double()
    return hits / size.squeeze(1).double().clamp(min=1)


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


def temporal_auroc_vs_prior(temporal: torch.Tensor, window: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Temporal AUROC minus the AUROC of the window-placement prior (the per-frame probability that a frame lies
    in the window) on the same clip: 0 for a method that knows no more than where windows usually are.

    Args:
        temporal, window: (N, T); prior: (T,) or (N, T).
    Returns:
        (N,); NaN where the AUROC is undefined.
    """
    prior = prior.double().cpu().expand(temporal.shape)
    return temporal_auroc(temporal, window) - temporal_auroc(prior, window)


def native_temporal_profile(window: torch.Tensor, native_frames: Optional[int]) -> torch.Tensor:
    """The best per-frame profile at ``native_frames`` temporal cells: the window averaged over each cell and
    linearly brought back to T frames (the temporal AUROC ceiling of a method with T' native frames).

    Args:
        window: (N, T) in {0, 1}.
    Returns:
        (N, T) float32.
    """
    window = window.float()
    t = window.shape[1]
    if native_frames is None or int(native_frames) == t:
        return window
    pooled = F.adaptive_avg_pool1d(window.unsqueeze(1), int(native_frames))
    return F.interpolate(pooled, size=t, mode="linear", align_corners=False).squeeze(1)


def _frame_hits(scores: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """(N, T) share of each frame's maximal cells that are allowed; scores, allowed: (N, T, cells)."""
    is_max = scores == scores.max(dim=2, keepdim=True).values
    return (is_max & allowed).sum(dim=2).double() / is_max.sum(dim=2).double()


def _mean_over_present_frames(per_frame: torch.Tensor, evidence: torch.Tensor) -> torch.Tensor:
    """(N,) mean of (N, T) per-frame values over the frames with evidence (NaN values left out); NaN if none."""
    n, t = evidence.shape[:2]
    present = (evidence.reshape(n, t, -1) > 0.5).any(dim=2).to(per_frame.device) & ~torch.isnan(per_frame)
    total = torch.where(present, per_frame, torch.zeros_like(per_frame)).sum(dim=1)
    count = present.sum(dim=1)
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, math.nan)).cpu()


def _dilate(mask: torch.Tensor, tolerance: int) -> torch.Tensor:
    """(N, T, H, W) bool mask grown by ``tolerance`` pixels in H and W (per frame)."""
    if tolerance <= 0:
        return mask
    size = 2 * tolerance + 1
    grown = F.max_pool3d(mask.float().unsqueeze(1), (1, size, size), stride=1, padding=(0, tolerance, tolerance))
    return grown.squeeze(1) > 0


def _check_same_shape(maps: torch.Tensor, evidence: torch.Tensor) -> None:
    if maps.shape != evidence.shape or maps.dim() != 4:
        raise ValueError(f"maps and evidence must both be (N, T, H, W), got {tuple(maps.shape)} and {tuple(evidence.shape)}")
