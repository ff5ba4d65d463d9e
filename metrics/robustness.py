"""Robustness of explanations: does a map stay the same when the clip changes imperceptibly?

Both scores explain ``S`` perturbed copies of each clip, ``x' = clip(x + delta)``, with ``delta`` uniform noise in
``[-radius, radius]`` of the data's range (per channel, so ``radius = 0.02`` is about 5 of 255 grey levels), drawn
from a seeded generator and clipped to the data's range (a perturbed clip is still a valid clip). Lower is better
for both (a stable map):

- **max-sensitivity** (Yeh et al., NeurIPS 2019; Quantus ``MaxSensitivity``): ``max_s ||e(x'_s) - e(x)|| / ||e(x)||``,
  the largest change of the map relative to the map's own size (Frobenius norms over (T, H, W)). Quantus divides by
  the norm of the explanation as well (its ``normalise`` default), which makes the score invariant to positive
  scaling of a method's maps, so methods with different units compare.
- **relative input stability** (Agarwal et al. 2022, "Rethinking stability for attribution-based explanations";
  Quantus ``RelativeInputStability``): ``max_s (||e(x'_s) - e(x)|| / ||e(x)||) / max(||x'_s - x|| / ||x||, eps)``,
  the map's relative change per unit of relative input change. Agarwal et al. and Quantus take element-wise
  relative changes ``(e - e') / e`` before the norm; with video maps that are zero on most voxels (ReLU'd CAMs,
  attention) the element-wise ratio is dominated by division by near-zero voxels, so the ratio of norms is used.

A map that does not depend on the input (the centre prior) scores 0 on both; a map drawn at random on every call
scores ``sqrt(2 Var) / sqrt(E[a^2])`` (two independent draws of one distribution: about 0.71 for uniform noise in
[0, 1)). Methods whose maps jump between regions under a tiny perturbation can score higher still.
An all-zero map that stays all zero scores 0; one that becomes non-zero scores ``inf``-like large values (the
denominator is clamped at a tiny number), never NaN.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

#: explain(clips (M, C, T, H, W), targets (M,)) -> maps (M, T, H, W)
ExplainFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: smallest relative input change in the denominator of relative input stability (Quantus' ``eps_min``)
EPS_MIN = 1e-6


def perturb_clips(clips: torch.Tensor, n_samples: int, radius: float, generator: torch.Generator,
                  scale: Sequence[float] | torch.Tensor | float = 1.0, low: Sequence[float] | torch.Tensor | float = float("-inf"),
                  high: Sequence[float] | torch.Tensor | float = float("inf")) -> torch.Tensor:
    """``n_samples`` perturbed copies of every clip, kept in the data's range.

    Args:
        clips: (N, C, T, H, W).
        radius: half-width of the uniform noise, as a share of the data's range.
        generator: seeds the noise (same generator state, same noise).
        scale: (C,) or scalar: the data's range per channel in the clips' units (ImageNet-normalised clips:
            ``1 / std``), so the noise is ``radius`` of the range in every channel.
        low, high: (C,) or scalar: the data's range per channel (the perturbed clips are clipped to it).
    Returns:
        (n_samples * N, C, T, H, W): sample ``s`` of clip ``i`` at row ``s * N + i``.
    """
    if clips.dim() != 5:
        raise ValueError(f"clips must have shape (N, C, T, H, W), got {tuple(clips.shape)}")
    n, c = clips.shape[:2]

    def per_channel(value) -> torch.Tensor:
        return torch.as_tensor(value, dtype=clips.dtype, device=clips.device).reshape(-1, 1, 1, 1).expand(c, 1, 1, 1)

    noise = torch.rand((n_samples, *clips.shape), generator=generator, dtype=torch.float32).to(clips.device, clips.dtype)
    perturbed = clips.unsqueeze(0) + (2 * noise - 1) * radius * per_channel(scale)
    perturbed = torch.maximum(torch.minimum(perturbed, per_channel(high)), per_channel(low))
    return perturbed.reshape(n_samples * n, *clips.shape[1:])


def relative_change(reference: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """(N,) ``||other - reference|| / ||reference||`` per clip (Frobenius norms over every dimension but the first);
    0 where both are equal (an all-zero reference included).

    Args:
        reference, other: (N, ...) of the same shape.
    """
    if reference.shape != other.shape:
        raise ValueError(f"shapes differ: {tuple(reference.shape)} and {tuple(other.shape)}")
    n = reference.shape[0]
    a = reference.double().reshape(n, -1)
    diff = (other.double().reshape(n, -1) - a).norm(dim=1)
    return torch.where(diff > 0, diff / a.norm(dim=1).clamp(min=torch.finfo(torch.float64).tiny), torch.zeros_like(diff))


def robustness_scores(explain: ExplainFn, clips: torch.Tensor, targets: torch.Tensor, maps: torch.Tensor,
                      n_samples: int = 3, radius: float = 0.02, seed: int = 0,
                      scale: Sequence[float] | torch.Tensor | float = 1.0, low=float("-inf"), high=float("inf"),
                      ) -> dict[str, torch.Tensor]:
    """Max-sensitivity and relative input stability of a method on N clips (one call of ``explain`` on every
    perturbed copy at once).

    Args:
        explain: the method, ``(M, C, T, H, W), (M,) -> (M, T, H, W)``.
        clips: (N, C, T, H, W); targets: (N,) the explained classes (kept for the perturbed copies).
        maps: (N, T, H, W) the method's maps of the unperturbed clips.
        n_samples, radius, seed, scale, low, high: see :func:`perturb_clips`.
    Returns:
        ``{"max_sensitivity": (N,), "relative_input_stability": (N,)}`` float64 on the CPU.
    """
    n = clips.shape[0]
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    perturbed = perturb_clips(clips, n_samples, radius, torch.Generator().manual_seed(seed), scale, low, high)
    new_maps = explain(perturbed, targets.repeat(n_samples)).detach().cpu()
    reference = maps.detach().cpu().repeat(n_samples, 1, 1, 1)
    map_change = relative_change(reference, new_maps).reshape(n_samples, n)
    input_change = relative_change(clips.detach().cpu().repeat(n_samples, 1, 1, 1, 1), perturbed.cpu()).reshape(n_samples, n)
    return {
        "max_sensitivity": map_change.max(dim=0).values,
        "relative_input_stability": (map_change / input_change.clamp(min=EPS_MIN)).max(dim=0).values,
    }
