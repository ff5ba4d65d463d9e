"""``baseline``, ``abn`` and ``stabn``: one network class, one builder per model name, one registry.

Every model reads like the diagram of docs/design.md section 2::

    F  = res4(res3(res2(stem(clips))))            # feature extractor, (N, C, T, h, w)
    A  = attention_branch(F)                      # attention logits, M_s, M_t   (abn, stabn)
    F' = fusion(F, A)                             # attention mechanism          (abn, stabn)
    y  = perception_branch(F')                    # res5 at stride 2, pool, dropout, linear
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import torch
from torch import Tensor, nn

from .attention import ResidualSpatialFusion, SpatialAttentionBranch, SpatioTemporalAttentionBranch, SpatioTemporalFusion
from .backbone import backbone_spec, init_weights, make_feature_stages, make_res5, stage_channels
from .outputs import VideoModelOutput


class PerceptionBranch(nn.Module):
    """res5 (spatial stride 2) -> global average pool -> dropout -> linear: (N, C, T, h, w) -> (N, K)."""

    def __init__(self, depth: int, width: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.res5 = make_res5(depth, width, spatial_stride=2)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(stage_channels(depth, width, 5), num_classes)

    def forward(self, features: Tensor) -> Tensor:
        return self.fc(self.dropout(self.pool(self.res5(features)).flatten(1)))


class VideoAttentionNet(nn.Module):
    """A slow-only 3D ResNet with an optional attention branch and attention mechanism.

    Args:
        arch: the model name (``baseline``, ``abn``, ``stabn``), kept as ``model.arch``.
        depth: ResNet depth (18, 34, 50, 101).
        width: base width (64 is the standard ResNet; 4..16 give tiny CPU variants).
        num_classes: K.
        dropout: dropout before the perception linear layer (and ST-ABN's K·T attention linear).
        attention_branch: module F -> :class:`~benchmark.models.attention.AttentionMaps`, or None (baseline).
        fusion: module (F, AttentionMaps) -> F', required with an attention branch.
        num_frames: the clip length T the model was built for (None where the architecture does not depend on it).

    ``model(clips)`` with clips (N, 3, T, H, W) returns :class:`VideoModelOutput`. ``model.gradcam_layer`` is the
    perception branch's res5 stage (output (N, C', T, H/32, W/32)).
    """

    def __init__(self, arch: str, depth: int, width: int, num_classes: int, dropout: float,
                 attention_branch: Optional[nn.Module] = None, fusion: Optional[nn.Module] = None,
                 num_frames: Optional[int] = None) -> None:
        super().__init__()
        if (attention_branch is None) != (fusion is None):
            raise ValueError("an attention branch and an attention mechanism (fusion) come together")
        self.arch = arch
        self.depth = depth
        self.width = width
        self.num_classes = num_classes
        self.num_frames = num_frames
        self.stem, self.res2, self.res3, self.res4 = make_feature_stages(depth, width)
        self.attention_branch = attention_branch
        self.fusion = fusion
        self.perception_branch = PerceptionBranch(depth, width, num_classes, dropout)
        init_weights(self)
        for module in self.modules():  # layers with an initialisation of their own
            if module is not self and hasattr(module, "reset_parameters") and not isinstance(
                    module, (nn.Conv3d, nn.Conv2d, nn.Linear, nn.BatchNorm3d, nn.BatchNorm2d)):
                module.reset_parameters()

    @property
    def gradcam_layer(self) -> nn.Module:
        """The last stage of the perception branch: its output (N, C, T, h, w) is what Grad-CAM weighs."""
        return self.perception_branch.res5

    @property
    def head_names(self) -> tuple[str, ...]:
        """The heads of :meth:`VideoModelOutput.heads`: ``perception``, plus ``attention`` with an attention branch."""
        return ("perception",) if self.attention_branch is None else ("perception", "attention")

    def features(self, clips: Tensor) -> Tensor:
        """F = res4(res3(res2(stem(clips)))): (N, 3, T, H, W) -> (N, C, T, H/16, W/16)."""
        return self.res4(self.res3(self.res2(self.stem(clips))))

    def forward(self, clips: Tensor) -> VideoModelOutput:
        features = self.features(clips)
        if self.attention_branch is None:
            return VideoModelOutput(logits=self.perception_branch(features))
        attention = self.attention_branch(features)
        logits = self.perception_branch(self.fusion(features, attention))
        return VideoModelOutput(
            logits=logits,
            attention_logits=attention.logits,
            spatial_attention=attention.spatial.squeeze(1),
            temporal_attention=attention.temporal,
        )


ModelBuilder = Callable[..., VideoAttentionNet]

#: model name -> builder(num_classes, depth, width, dropout, num_frames). Add a model with :func:`register_model`.
MODELS: dict[str, ModelBuilder] = {}


def register_model(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    def decorate(builder: ModelBuilder) -> ModelBuilder:
        MODELS[name] = builder
        return builder
    return decorate


@register_model("baseline")
def baseline(num_classes: int, depth: int = 18, width: int = 16, dropout: float = 0.5,
             num_frames: Optional[int] = None) -> VideoAttentionNet:
    """The backbone alone: res5 on F directly, no attention branch."""
    return VideoAttentionNet("baseline", depth, width, num_classes, dropout, num_frames=num_frames)


@register_model("abn")
def abn(num_classes: int, depth: int = 18, width: int = 16, dropout: float = 0.5,
        num_frames: Optional[int] = None) -> VideoAttentionNet:
    """ABN-style spatial attention only (ablation): F' = F·(1 + M_s)."""
    return VideoAttentionNet("abn", depth, width, num_classes, dropout,
                             attention_branch=SpatialAttentionBranch(depth, width, num_classes),
                             fusion=ResidualSpatialFusion(), num_frames=num_frames)


@register_model("stabn")
def stabn(num_classes: int, depth: int = 18, width: int = 16, dropout: float = 0.5,
          num_frames: Optional[int] = None) -> VideoAttentionNet:
    """ST-ABN: spatial and temporal attention, fused by a 2C->C conv. ``num_frames`` fixes T for the K·T head."""
    return VideoAttentionNet("stabn", depth, width, num_classes, dropout,
                             attention_branch=SpatioTemporalAttentionBranch(depth, width, num_classes, num_frames, dropout),
                             fusion=SpatioTemporalFusion(stage_channels(depth, width, 4)), num_frames=num_frames)


def build_model(name: str, num_classes: int, depth: int = 18, width: int = 16, dropout: float = 0.5,
                inflate_from: Optional[str | Path] = None, num_frames: Optional[int] = None) -> VideoAttentionNet:
    """Build a registered model by name; optionally inflate 2D torchvision ResNet weights from a local file.

    Args:
        name: one of :data:`MODELS` (``baseline``, ``abn``, ``stabn``).
        num_classes: K, the number of classes.
        depth, width, dropout: see :class:`VideoAttentionNet`.
        inflate_from: path of a 2D torchvision ResNet state dict of the same depth and width (never downloaded).
        num_frames: clip length T; ``stabn`` shapes its K·T head with it (None: shaped by the first clips seen).
    """
    if name not in MODELS:
        raise ValueError(f"unknown model '{name}'; valid models: {', '.join(MODELS)}")
    backbone_spec(depth)  # fail early with the list of valid depths
    if width < 1 or num_classes < 1:
        raise ValueError(f"model width ({width}) and num_classes ({num_classes}) must be >= 1")
    model = MODELS[name](num_classes=num_classes, depth=depth, width=width, dropout=dropout, num_frames=num_frames)
    if inflate_from is not None:
        from .inflate import inflate_into  # local import: inflation is optional

        inflate_into(model, inflate_from)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
