"""The machinery every method shares: channel reduction, upsampling to input resolution, per-frame importance
and validation. A method returns only its raw map; everything below is the same for all methods.

Rules (recorded in every :class:`~baselines.explanation.Explanation`):

* **Channel reduction** (``REDUCTION``): a raw map with a channel axis, (N, C', T', h, w), becomes
  (N, T', h, w) by the sum of absolute values over that axis (the L1 norm over colour channels for input-space
  attributions; the identity for Grad-CAM's non-negative (N, 1, T', h, w) map). Signed attributions therefore
  count evidence for and against the target alike, as in Simonyan et al.'s saliency.
* **Upsampling** (``UPSAMPLING``): an (N, T', h, w) map smaller than the input is resized to (T, H, W) with
  trilinear interpolation (``align_corners=False``); equal sizes are left alone. An (N, T) map is broadcast over
  space (``BROADCAST``).
* **Per-frame importance**: the method's native (N, T) importance where it has one (ST-ABN's M_t), else the
  per-frame sum of the (N, T, H, W) map.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import MethodError

REDUCTION = "sum-abs-over-channels"
NO_REDUCTION = "none"
UPSAMPLING = "trilinear"
BROADCAST = "broadcast-over-space"
NO_UPSAMPLING = "none"


def reduce_channels(raw: torch.Tensor) -> torch.Tensor:
    """(N, C', T', h, w) -> (N, T', h, w): sum of |values| over the channel axis."""
    return raw.abs().sum(dim=1)


def upsample(maps: torch.Tensor, size: tuple[int, int, int]) -> torch.Tensor:
    """(N, T', h, w) -> (N, T, H, W) by trilinear interpolation (``align_corners=False``)."""
    if tuple(maps.shape[1:]) == tuple(size):
        return maps
    return F.interpolate(maps.unsqueeze(1), size=size, mode="trilinear", align_corners=False).squeeze(1)


def to_input_resolution(name: str, raw: torch.Tensor, input_shape: torch.Size) -> tuple[torch.Tensor, str, str]:
    """A method's raw map -> ((N, T, H, W) float32 map, reduction, upsampling) for clips of ``input_shape``.

    Accepted raw shapes, for clips (N, C, T, H, W): (N, C', T', h, w), (N, T', h, w) with T' <= T, h <= H,
    w <= W, and (N, T). Anything else raises :class:`MethodError` naming ``name``.
    """
    n, _, t, h, w = input_shape
    if not isinstance(raw, torch.Tensor):
        raise MethodError(name, f"returned {type(raw).__name__}; expected a tensor")
    if raw.is_complex() or raw.dtype == torch.bool:
        raise MethodError(name, f"returned a map of dtype {raw.dtype}; expected real numbers (float)")
    expected = f"(N, C', T', h, w), (N, T', h, w) or (N, T) with N={n}, T'<={t}, h<={h}, w<={w}"
    shape = tuple(raw.shape)
    raw = raw.detach().float()
    reduction, upsampling = NO_REDUCTION, NO_UPSAMPLING
    if raw.dim() == 2:
        if shape != (n, t):
            raise MethodError(name, f"returned a map of shape {shape}; expected {expected}")
        return raw[:, :, None, None].expand(n, t, h, w).contiguous(), reduction, BROADCAST
    if raw.dim() == 5:
        raw = reduce_channels(raw)
        reduction = REDUCTION
    if raw.dim() != 4 or raw.shape[0] != n or not (raw.shape[1] <= t and raw.shape[2] <= h and raw.shape[3] <= w):
        raise MethodError(name, f"returned a map of shape {shape}; expected {expected}")
    if tuple(raw.shape[1:]) != (t, h, w):
        upsampling = UPSAMPLING
    return upsample(raw, (t, h, w)), reduction, upsampling


def frame_importance(maps: torch.Tensor) -> torch.Tensor:
    """(N, T, H, W) -> (N, T): per-frame sum of the map."""
    return maps.sum(dim=(2, 3))


def check_finite(name: str, what: str, values: torch.Tensor) -> None:
    """Raise :class:`MethodError` naming ``name`` when ``values`` hold NaN or inf."""
    bad = ~torch.isfinite(values)
    if bool(bad.any()):
        kinds = [k for k, m in (("NaN", torch.isnan(values)), ("inf", torch.isinf(values))) if bool(m.any())]
        raise MethodError(name, f"returned {' and '.join(kinds)} in {int(bad.sum())} of {values.numel()} "
                                f"values of its {what}")
