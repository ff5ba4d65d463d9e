"""``baseline``, ``abn`` and ``stabn``: one network class, one builder per model name, one registry.

Every model reads like the diagram of docs/design.md section 2::

    F  = res4(res3(res2(stem(clips))))            # feature extractor, (N, C, T, h, w)
    A  = attention_branch(F)                      # attention logits, M_s, M_t   (abn, stabn)
    F' = fusion(F, A)                             # attention mechanism          (abn, stabn)
    y  = perception_branch(F')                    # res5 at stride 2, pool, dropout, linear
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Callable, Optional

from torch import Tensor, nn

from stabn_bench.core import Registry

from .attention import ResidualSpatialFusion, SpatialAttentionBranch, SpatioTemporalAttentionBranch, SpatioTemporalFusion
from .backbone import BLOCK_TEMPORAL, backbone_spec, init_weights, make_feature_stages, make_res5, stage_channels
from .outputs import VideoModelOutput


#: Grad-CAM layer names (``explain.options.gradcam.layer``) -> the layer whose output Grad-CAM weighs.
GRADCAM_LAYERS: dict[str, str] = {
    "res5": "the perception branch's res5 (N, C5, T, H/32, W/32); the default",
    "res4": "the feature map F, output of res4 (N, C, T, H/16, W/16)",
    "features": "the same layer as res4 (the feature map F)",
    "fused": "F' from the attention mechanism (N, C, T, H/16, W/16); abn and stabn",
    "attention-res5": "the attention branch's res5 at stride 1 (N, C5, T, H/16, W/16); abn and stabn",
}


class PerceptionBranch(nn.Module):
    """res5 (spatial stride 2) -> global average pool -> dropout -> linear: (N, C, T, h, w) -> (N, K)."""

    def __init__(self, depth: int, width: int, num_classes: int, dropout: float,
                 block_temporal: str = "reference") -> None:
        super().__init__()
        self.res5 = make_res5(depth, width, spatial_stride=2, block_temporal=block_temporal)
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
        block_temporal: ``"reference"`` (the authors' temporal kernels) or ``"slow-only"``
            (see :mod:`~stabn_bench.benchmark.models.backbone`).

    ``model(clips)`` with clips (N, 3, T, H, W) returns :class:`VideoModelOutput`. ``model.gradcam_layer`` is the
    perception branch's res5 stage (output (N, C', T, H/32, W/32)); ``model.cam_layer(name)`` any layer of
    :data:`GRADCAM_LAYERS` the model has.
    """

    def __init__(self, arch: str, depth: int, width: int, num_classes: int, dropout: float,
                 attention_branch: Optional[nn.Module] = None, fusion: Optional[nn.Module] = None,
                 num_frames: Optional[int] = None, block_temporal: str = "reference") -> None:
        super().__init__()
        if (attention_branch is None) != (fusion is None):
            raise ValueError("an attention branch and an attention mechanism (fusion) come together")
        self.block_temporal = block_temporal
        self.arch = arch
        self.depth = depth
        self.width = width
        self.num_classes = num_classes
        self.num_frames = num_frames
        self.stem, self.res2, self.res3, self.res4 = make_feature_stages(depth, width, block_temporal)
        self.attention_branch = attention_branch
        self.fusion = fusion
        self.perception_branch = PerceptionBranch(depth, width, num_classes, dropout, block_temporal)
        init_weights(self)

    @property
    def gradcam_layer(self) -> nn.Module:
        """The last stage of the perception branch: its output (N, C, T, h, w) is what Grad-CAM weighs."""
        return self.perception_branch.res5

    def cam_layers(self) -> dict[str, nn.Module]:
        """The :data:`GRADCAM_LAYERS` this model has, name -> module (the baseline has no fused / attention layers)."""
        layers: dict[str, nn.Module] = {"res5": self.perception_branch.res5, "res4": self.res4, "features": self.res4}
        if self.attention_branch is not None and self.fusion is not None:
            layers["fused"] = self.fusion
            layers["attention-res5"] = self.attention_branch.get_submodule("class_maps.res5")
        return layers

    def cam_layer(self, name: str) -> nn.Module:
        """The module whose output (N, C, T, h, w) Grad-CAM weighs for layer ``name``; ValueError listing the valid
        layers of this model otherwise."""
        layers = self.cam_layers()
        if name not in layers:
            raise ValueError(f"Grad-CAM layer '{name}' is not valid for model '{self.arch}'; valid layers: "
                             f"{', '.join(layers)}")
        return layers[name]

    @property
    def head_names(self) -> tuple[str, ...]:
        """The heads of :meth:`VideoModelOutput.heads`: ``perception``, plus ``attention`` with an attention branch."""
        return ("perception",) if self.attention_branch is None else ("perception", "attention")

    def features(self, clips: Tensor) -> Tensor:
        """F = res4(res3(res2(stem(clips)))): (N, 3, T, H, W) -> (N, C, T, H/16, W/16)."""
        return self.res4(self.res3(self.res2(self.stem(clips))))

    def forward(self, clips: Tensor) -> VideoModelOutput:
        features = self.features(clips)
        if self.attention_branch is None or self.fusion is None:  # they come together (see __init__)
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

#: model name -> builder(num_classes, depth, width, dropout, num_frames, block_temporal), in registration order,
#: each with its description. Add a model with :func:`register_model`.
MODELS: Registry[ModelBuilder] = Registry("model")


def register_model(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator: enter ``builder`` in :data:`MODELS` as ``name`` (its description: the first line of its
    docstring); a name that is taken is a ValueError (a second builder never silently replaces the first)."""
    def decorate(builder: ModelBuilder) -> ModelBuilder:
        doc = inspect.getdoc(builder) or ""
        return MODELS.register(name, builder, description=doc.splitlines()[0] if doc else "")
    return decorate


@register_model("baseline")
def baseline(num_classes: int, depth: int = 18, width: int = 16, dropout: float = 0.5,
             num_frames: Optional[int] = None, block_temporal: str = "reference") -> VideoAttentionNet:
    """The backbone alone: res5 on F directly, no attention branch."""
    return VideoAttentionNet("baseline", depth, width, num_classes, dropout, num_frames=num_frames,
                             block_temporal=block_temporal)


@register_model("abn")
def abn(num_classes: int, depth: int = 18, width: int = 16, dropout: float = 0.5,
        num_frames: Optional[int] = None, block_temporal: str = "reference") -> VideoAttentionNet:
    """ABN-style spatial attention only (ablation): F' = F·(1 + M_s)."""
    return VideoAttentionNet("abn", depth, width, num_classes, dropout,
                             attention_branch=SpatialAttentionBranch(depth, width, num_classes, block_temporal),
                             fusion=ResidualSpatialFusion(), num_frames=num_frames, block_temporal=block_temporal)


@register_model("stabn")
def stabn(num_classes: int, depth: int = 18, width: int = 16, dropout: float = 0.5,
          num_frames: Optional[int] = None, block_temporal: str = "reference") -> VideoAttentionNet:
    """ST-ABN: spatial and temporal attention, fused by a 2C->C conv. ``num_frames`` fixes T for the K·T head."""
    branch = SpatioTemporalAttentionBranch(depth, width, num_classes, num_frames, dropout, block_temporal)
    return VideoAttentionNet("stabn", depth, width, num_classes, dropout, attention_branch=branch,
                             fusion=SpatioTemporalFusion(stage_channels(depth, width, 4)), num_frames=num_frames,
                             block_temporal=block_temporal)


def build_model(name: str, num_classes: int, depth: int = 18, width: int = 16, dropout: float = 0.5,
                inflate_from: Optional[str | Path] = None, num_frames: Optional[int] = None,
                block_temporal: str = "reference") -> VideoAttentionNet:
    """Build a registered model by name; optionally inflate 2D torchvision ResNet weights from a local file.

    Args:
        name: one of :data:`MODELS` (``baseline``, ``abn``, ``stabn``).
        num_classes: K, the number of classes.
        depth, width, dropout: see :class:`VideoAttentionNet`.
        inflate_from: path of a 2D torchvision ResNet state dict of the same depth and width (never downloaded).
        num_frames: clip length T; ``stabn`` shapes its K·T head with it (None: shaped by the first clips seen).
        block_temporal: ``"reference"`` (default, the authors' temporal kernels) or ``"slow-only"``.
    """
    builder = MODELS.get(name)  # unknown: one line with the valid names (a ValueError)
    backbone_spec(depth)  # fail early with the list of valid depths
    if block_temporal not in BLOCK_TEMPORAL:
        raise ValueError(f"block_temporal '{block_temporal}' is not valid; valid values: {', '.join(BLOCK_TEMPORAL)}")
    if width < 1 or num_classes < 1:
        raise ValueError(f"model width ({width}) and num_classes ({num_classes}) must be >= 1")
    model = builder(num_classes=num_classes, depth=depth, width=width, dropout=dropout, num_frames=num_frames,
                         block_temporal=block_temporal)
    if inflate_from is not None:
        from .inflate import inflate_into  # local import: inflation is optional

        inflate_into(model, inflate_from)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
