"""Temporal masking tests: whole frames removed or kept by a method's per-frame importance, and the model's
own sensitivity to frame order.

Substrates for removed frames (:mod:`stabn_bench.metrics.substrates`): ``mean_frame`` (the clip's mean frame), ``zero``
and ``frozen`` (the last kept frame is shown again).

**Tied frames** (e.g. the oracle's window frames, or a map that is flat in time) are changed one per step in a
random order, and every value is the mean over ``tie_orders`` random orders of each tie group: an estimate of the
expected value under a random tie-break. The map curves instead change a tie group at once and interpolate across
it, which assumes each of its cells matters alike; frames often matter only together (when one window frame is
gone, the action is gone), and then that straight line scores the true evidence as no better than a random order.
"""
from __future__ import annotations

from typing import Optional

import torch

from .engine import Curves, Endpoints, Mode, PerturbationEngine
from .ordering import CellRanks, Order, frame_ranks

TEMPORAL_SUBSTRATES: tuple[str, ...] = ("mean_frame", "zero", "frozen")


def tie_orders_of(ranks: CellRanks, tie_orders: int, generator: torch.Generator) -> list[CellRanks]:
    """``ranks`` and ``tie_orders - 1`` reorderings of its tie groups (only ``ranks`` when nothing is tied)."""
    if tie_orders < 1:
        raise ValueError(f"tie_orders must be >= 1, got {tie_orders}")
    if not ranks.has_ties:
        return [ranks]
    return [ranks] + [ranks.reorder_ties(generator) for _ in range(tie_orders - 1)]


def frame_curves(
    engine: PerturbationEngine,
    clips: torch.Tensor,
    temporal: torch.Tensor,
    targets: torch.Tensor,
    *,
    mode: Mode,
    order: Order = "morf",
    substrate: str = "mean_frame",
    steps: int = 16,
    seed: int = 0,
    tie_orders: int = 8,
    endpoints: Optional[Endpoints] = None,
) -> Curves:
    """Frame deletion / insertion curves, averaged over ``tie_orders`` random orders of tied frames.

    Args:
        clips: (N, C, T, H, W).
        temporal: (N, T) per-frame importance (tie orders drawn from a generator seeded with ``seed``).
        steps: number of steps, at most T (one frame per step).
        tie_orders: random orders of each tie group whose curves are averaged (the input of one order that
            another order already made is not computed again).
    Returns:
        (N, S + 1) fractions of frames changed and mean target probabilities.
    """
    generator = torch.Generator().manual_seed(seed)
    ranks = frame_ranks(temporal, order, generator)
    curves = [engine.curves(clips, each, targets, mode, substrate, steps, endpoints=endpoints, snap_ties=False)
              for each in tie_orders_of(ranks, tie_orders, generator)]
    return Curves(torch.stack([c.fractions for c in curves]).mean(dim=0), torch.stack([c.scores for c in curves]).mean(dim=0))


def keep_top_k_frames(
    engine: PerturbationEngine,
    clips: torch.Tensor,
    temporal: torch.Tensor,
    targets: torch.Tensor,
    labels: torch.Tensor,
    k: int,
    *,
    substrate: str = "mean_frame",
    seed: int = 0,
    tie_orders: int = 8,
) -> dict[str, torch.Tensor]:
    """Keep only the k most important frames of every clip (the others replaced by the substrate); where k cuts a
    tie group, the mean over ``tie_orders`` random orders of it.

    Returns:
        ``keep_top_k_accuracy`` (N,) share of the tie orders whose prediction equals the label (1.0 or 0.0 where
        k cuts no tie group), and ``keep_top_k_probability`` (N,) the mean target probability.
    """
    n, t = temporal.shape
    if not 1 <= k <= t:
        raise ValueError(f"k must be between 1 and the number of frames ({t}), got {k}")
    generator = torch.Generator().manual_seed(seed)
    ranks = frame_ranks(temporal, "morf", generator)
    correct, probability = [], []
    for each in tie_orders_of(ranks, tie_orders, generator):
        result = engine.masked(clips, each, targets, "insertion", substrate, torch.arange(n), torch.full((n,), k))
        correct.append((result.predicted == labels.cpu()).float())
        probability.append(result.probability)
    return {
        "keep_top_k_accuracy": torch.stack(correct).mean(dim=0),
        "keep_top_k_probability": torch.stack(probability).mean(dim=0),
    }


def keep_count(num_frames: int, keep_fraction: float) -> int:
    """Number of frames kept by the keep-top-k test: round(fraction * T), at least 1."""
    return max(1, min(num_frames, round(keep_fraction * num_frames)))


def shuffle_frames(clips: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Clips (N, C, T, H, W) with the frames of each clip in a random order that is not the identity (T > 1)."""
    n, _, t = clips.shape[:3]
    order = torch.rand(n, t, generator=generator).argsort(dim=1)
    if t > 1:
        identity = (order == torch.arange(t)).all(dim=1)
        order[identity] = order[identity].roll(1, dims=1)
    index = order.to(clips.device).view(n, 1, t, 1, 1).expand_as(clips)
    return clips.gather(2, index)


def reverse_frames(clips: torch.Tensor) -> torch.Tensor:
    """Clips (N, C, T, H, W) played backwards."""
    return clips.flip(2)


def order_sensitivity(engine: PerturbationEngine, clips: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """How the model's prediction reacts to frame order (a property of the model, not of an explanation).

    Returns:
        ``shuffle_prediction_change`` and ``reverse_prediction_change``: (N,) 1.0 where the predicted class of
        the shuffled / reversed clip differs from that of the original clip.
    """
    n = clips.shape[0]
    placeholder = torch.zeros(n, dtype=torch.int64)
    clean = engine.predict(clips, placeholder).predicted
    shuffled = shuffle_frames(clips, torch.Generator().manual_seed(seed))
    both = engine.predict(torch.cat([shuffled, reverse_frames(clips)]), torch.cat([clean, clean])).predicted
    return {
        "shuffle_prediction_change": (both[:n] != clean).float(),
        "reverse_prediction_change": (both[n:] != clean).float(),
    }
