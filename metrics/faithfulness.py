"""Deletion and insertion curves (RISE, Petsiuk et al. 2018) of spatio-temporal maps, and the scores built on them.

- ``morf``: most relevant first (deletion: a faithful map makes the probability drop fast: low AUC;
  insertion: it makes it rise fast: high AUC);
- ``lerf``: least relevant first (deletion: the probability should stay high: high AUC);
- ``random``: a random order, the same for every method (it does not look at the map).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from .engine import Curves, Endpoints, Mode, PerturbationEngine
from .ordering import Granularity, Order, map_ranks


def map_curves(
    engine: PerturbationEngine,
    clips: torch.Tensor,
    maps: torch.Tensor,
    targets: torch.Tensor,
    *,
    mode: Mode,
    order: Order,
    granularity: Granularity,
    substrate: str,
    steps: int,
    tube_size: Sequence[int] = (2, 8, 8),
    seed: int = 0,
    endpoints: Optional[Endpoints] = None,
) -> Curves:
    """Deletion / insertion curves of clips (N, C, T, H, W) in the order given by maps (N, T, H, W).

    Ties in the maps are broken by a random order drawn from a generator seeded with ``seed``.
    Returns (N, S + 1) fractions and target probabilities.
    """
    generator = torch.Generator().manual_seed(seed)
    ranks = map_ranks(maps, granularity, order, generator, tube_size)
    return engine.curves(clips, ranks, targets, mode, substrate, steps, endpoints=endpoints)


def random_order_curves(
    engine: PerturbationEngine,
    clips: torch.Tensor,
    targets: torch.Tensor,
    *,
    mode: Mode,
    granularity: Granularity,
    substrate: str,
    steps: int,
    tube_size: Sequence[int] = (2, 8, 8),
    seed: int = 0,
    endpoints: Optional[Endpoints] = None,
) -> Curves:
    """Curves in a random order of cells (independent of any explanation: compute once per model and clips)."""
    n, _, t, h, w = clips.shape
    placeholder = torch.zeros(n, t, h, w)
    return map_curves(
        engine, clips, placeholder, targets, mode=mode, order="random", granularity=granularity,
        substrate=substrate, steps=steps, tube_size=tube_size, seed=seed, endpoints=endpoints,
    )


def auc_vs_random(auc: torch.Tensor, random_auc: torch.Tensor) -> torch.Tensor:
    """(N,) AUC of the method minus the random-order AUC of the same clip."""
    return auc - random_auc


def lerf_minus_morf(lerf_deletion_auc: torch.Tensor, morf_deletion_auc: torch.Tensor) -> torch.Tensor:
    """(N,) (LeRF deletion AUC - MoRF deletion AUC) / 2: large when the map separates relevant from irrelevant."""
    return (lerf_deletion_auc - morf_deletion_auc) / 2
