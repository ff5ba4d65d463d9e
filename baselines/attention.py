"""ST-ABN's own explanation, read from one forward pass (no backward): the attention branch's maps.

The maps are class-agnostic (M_s and M_t do not depend on the target class), as in the paper.
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


@register_method("stabn-attention", models=("stabn",), cost="free", kind="attention")
def stabn_attention(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor) -> RawAttribution:
    """ST-ABN's map M_s(t,h,w)·M_t(t), upsampled; per-frame importance M_t. Returns (N, T, h, w) and (N, T)."""
    spatial, temporal = _attention_maps(model, clips, need_temporal=True)
    return RawAttribution(spatial * temporal[:, :, None, None], temporal=temporal)


@register_method("stabn-spatial", models=("abn", "stabn"), cost="free", kind="attention")
def stabn_spatial(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The spatial attention M_s alone (ST-ABN or ABN), upsampled. Returns (N, T, h, w)."""
    spatial, _ = _attention_maps(model, clips, need_temporal=False)
    return spatial


@register_method("stabn-temporal", models=("stabn",), cost="free", kind="attention")
def stabn_temporal(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor) -> RawAttribution:
    """ST-ABN's temporal attention M_t broadcast over space. Returns (N, T) as map and per-frame importance."""
    _, temporal = _attention_maps(model, clips, need_temporal=True)
    return RawAttribution(temporal, temporal=temporal)
