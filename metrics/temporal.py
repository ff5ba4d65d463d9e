"""Temporal masking tests: whole frames removed or kept by a method's per-frame importance, and the model's
own sensitivity to frame order.

Substrates for removed frames (:mod:`stabn_bench.metrics.substrates`): ``mean_frame`` (the clip's mean frame), ``zero``
and ``frozen`` (the last kept frame is shown again).
"""
from __future__ import annotations

from typing import Optional

import torch

from .engine import Curves, Endpoints, Mode, PerturbationEngine
from .ordering import Order, frame_ranks

TEMPORAL_SUBSTRATES: tuple[str, ...] = ("mean_frame", "zero", "frozen")


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
    endpoints: Optional[Endpoints] = None,
) -> Curves:
    """Frame deletion / insertion curves.

    Args:
        clips: (N, C, T, H, W).
        temporal: (N, T) per-frame importance (ties broken by a random order seeded with ``seed``).
        steps: number of steps, at most T (one frame per step).
    Returns:
        (N, S + 1) fractions of frames changed and target probabilities.
    """
    ranks = frame_ranks(temporal, order, torch.Generator().manual_seed(seed))
    return engine.curves(clips, ranks, targets, mode, substrate, steps, endpoints=endpoints)


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
) -> dict[str, torch.Tensor]:
    """Keep only the k most important frames of every clip (the others replaced by the substrate).

    Returns:
        ``keep_top_k_accuracy`` (N,) 1.0 where the prediction equals the label, and
        ``keep_top_k_probability`` (N,) the target probability.
    """
    n, t = temporal.shape
    if not 1 <= k <= t:
        raise ValueError(f"k must be between 1 and the number of frames ({t}), got {k}")
    ranks = frame_ranks(temporal, "morf", torch.Generator().manual_seed(seed))
    result = engine.masked(clips, ranks, targets, "insertion", substrate, torch.arange(n), torch.full((n,), k))
    return {
        "keep_top_k_accuracy": (result.predicted == labels.cpu()).float(),
        "keep_top_k_probability": result.probability,
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
