"""ST-ABN's own explanation, read from one forward pass (no backward): the attention branch's maps.

The maps are class-agnostic (M_s and M_t do not depend on the target class), as in the paper. As the authors
display them, M_s (one map per frame) and M_t (one weight per frame) are scored separately (``stabn-spatial``,
``stabn-temporal``); the combined ``stabn-attention`` map multiplies the two after normalising each per clip
(min-max over the clip), so that neither the sigmoid's offset of M_s nor that of M_t flattens the product.
``stabn-spatial-inverse`` (1 - M_s) is a diagnostic control: when it scores above ``stabn-spatial``, the attention
points away from the evidence.
"""
from __future__ import annotations

import torch
from torch import nn

from .registry import RawAttribution, register_method


@torch.no_grad()
def _attention_maps(model: nn.Module, clips: torch.Tensor,
                    need_temporal: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(N, C, T, H, W) -> M_s (N, T, h, w) and M_t (N, T) (None when not needed) from one forward pass."""
    out = model(clips)
    spatial, temporal = out.spatial_attention, out.temporal_attention
    if spatial is None:
        raise ValueError(f"the model ({getattr(model, 'arch', type(model).__name__)}) returns no spatial attention M_s")
    if need_temporal and temporal is None:
        raise ValueError(f"the model ({getattr(model, 'arch', type(model).__name__)}) returns no temporal attention M_t")
    return spatial, temporal


def minmax_per_clip(values: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Rescale each clip's values to [0, 1]: (x - min) / (max - min) over all but the first axis, (N, ...) -> (N, ...).

    A clip whose values are all equal becomes all ones (no part of it stands out, none is suppressed)."""
    flat = values.flatten(1)
    low = flat.min(dim=1).values
    span = flat.max(dim=1).values - low
    shape = (-1,) + (1,) * (values.dim() - 1)
    scaled = (values - low.view(shape)) / span.clamp_min(eps).view(shape)
    return torch.where(span.view(shape) > eps, scaled, torch.ones_like(values))


@register_method("stabn-attention", models=("stabn",), cost="free", kind="attention")
def stabn_attention(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor) -> RawAttribution:
    """ST-ABN's map M_s(t,h,w)·M_t(t), each min-max normalised per clip first, upsampled; per-frame importance the
    normalised M_t. Returns (N, T, h, w) and (N, T)."""
    spatial, temporal = _attention_maps(model, clips, need_temporal=True)
    assert temporal is not None  # need_temporal=True
    spatial, temporal = minmax_per_clip(spatial), minmax_per_clip(temporal)
    return RawAttribution(spatial * temporal[:, :, None, None], temporal=temporal)


@register_method("stabn-spatial", models=("abn", "stabn"), cost="free", kind="attention")
def stabn_spatial(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The spatial attention M_s alone (ST-ABN or ABN), upsampled. Returns (N, T, h, w)."""
    spatial, _ = _attention_maps(model, clips, need_temporal=False)
    return spatial


@register_method("stabn-spatial-inverse", models=("abn", "stabn"), cost="free", kind="control")
def stabn_spatial_inverse(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Diagnostic control 1 - M_s (ST-ABN or ABN), upsampled: the spatial attention inverted. Returns (N, T, h, w)."""
    spatial, _ = _attention_maps(model, clips, need_temporal=False)
    return 1 - spatial


@register_method("stabn-temporal", models=("stabn",), cost="free", kind="attention")
def stabn_temporal(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor) -> RawAttribution:
    """ST-ABN's temporal attention M_t broadcast over space. Returns (N, T) as map and per-frame importance."""
    _, temporal = _attention_maps(model, clips, need_temporal=True)
    assert temporal is not None  # need_temporal=True
    return RawAttribution(temporal, temporal=temporal)
