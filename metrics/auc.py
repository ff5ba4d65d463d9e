"""Area under a perturbation curve.

The x axis is the fraction of the input *actually changed* at each step (not the step index), from 0 to 1 with
both ends included, so the AUC does not depend on the number of steps or on unequal cell sizes, and a constant
curve has an AUC equal to the constant.
"""
from __future__ import annotations

import torch


def trapezoid_auc(fractions: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Trapezoid-rule AUC of each curve.

    Args:
        fractions: (N, S) non-decreasing fractions changed, starting at 0 and ending at 1.
        scores: (N, S) scores (target probabilities) at those fractions.
    Returns:
        (N,) float64 areas.
    """
    if fractions.shape != scores.shape or fractions.dim() != 2 or fractions.shape[1] < 2:
        raise ValueError(f"fractions and scores must both be (N, S>=2), got {tuple(fractions.shape)} and {tuple(scores.shape)}")
    x = fractions.double()
    if not (torch.allclose(x[:, 0], torch.zeros_like(x[:, 0]), atol=1e-9) and torch.allclose(x[:, -1], torch.ones_like(x[:, -1]), atol=1e-9)):
        raise ValueError("curve fractions must start at 0 and end at 1 (both ends included)")
    if bool((x.diff(dim=1) < -1e-12).any()):
        raise ValueError("curve fractions must be non-decreasing")
    return torch.trapezoid(scores.double(), x, dim=1)
