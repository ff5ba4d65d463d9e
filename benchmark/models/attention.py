"""Attention branches and attention mechanisms of ABN and ST-ABN (docs/design.md section 2).

An attention branch reads the feature map F (N, C, T, h, w) and returns :class:`AttentionMaps` (its own class
logits and the attention maps); an attention mechanism (``fusion``) combines F with those maps into F' for the
perception branch. Shapes in the comments are for the paper's setting (C = 1024, K = 174, T = 32, h = w = 14).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from .backbone import init_weights, make_res5, stage_channels


@dataclass
class AttentionMaps:
    """What an attention branch computes from F (N, C, T, h, w).

    Attributes:
        logits: (N, K) attention-branch logits.
        spatial: (N, 1, T, h, w) spatial attention M_s in [0, 1].
        temporal: (N, T) temporal attention M_t in [0, 1] (ST-ABN only).
    """

    logits: Tensor
    spatial: Tensor
    temporal: Optional[Tensor] = None


class ClassMaps(nn.Module):
    """res5 at spatial stride 1 -> BN -> 1x1x1 conv 2C->K -> BN -> ReLU: F (N, C, T, h, w) -> A (N, K, T, h, w)."""

    def __init__(self, depth: int, width: int, num_classes: int, block_temporal: str = "reference") -> None:
        super().__init__()
        channels = stage_channels(depth, width, 5)
        self.res5 = make_res5(depth, width, spatial_stride=1, block_temporal=block_temporal)
        self.bn = nn.BatchNorm3d(channels)
        self.conv = nn.Conv3d(channels, num_classes, 1, bias=False)
        self.class_bn = nn.BatchNorm3d(num_classes)
        self.relu = nn.ReLU()

    def forward(self, features: Tensor) -> Tensor:
        return self.relu(self.class_bn(self.conv(self.bn(self.res5(features)))))


class SpatialAttentionBranch(nn.Module):
    """ABN's attention branch (ablation): class maps A, logits by plain global pooling of a K->K 1x1x1 conv,
    M_s = sigmoid(BN(3x3x3 conv K->1 (A)))."""

    def __init__(self, depth: int, width: int, num_classes: int, block_temporal: str = "reference") -> None:
        super().__init__()
        self.class_maps = ClassMaps(depth, width, num_classes, block_temporal)
        self.logit_conv = nn.Conv3d(num_classes, num_classes, 1, bias=False)
        self.spatial_conv = nn.Conv3d(num_classes, 1, 3, padding=1, bias=False)
        self.spatial_bn = nn.BatchNorm3d(1)
        self.spatial_sigmoid = nn.Sigmoid()

    def forward(self, features: Tensor) -> AttentionMaps:
        maps = self.class_maps(features)                                  # (N, K, T, h, w)
        logits = self.logit_conv(maps).mean(dim=(2, 3, 4))                # (N, K)
        spatial = self.spatial_sigmoid(self.spatial_bn(self.spatial_conv(maps)))  # (N, 1, T, h, w)
        return AttentionMaps(logits, spatial)


class TemporalAttention(nn.Module):
    """ST-ABN's M_t: 3x3x3 conv K->1 (pad 1), BN, ReLU -> (N, T, h, w); the T frames as channels: 1x1 conv T->T
    without bias, ReLU, mean over h, w -> (N, T); FC T->T, ReLU, FC T->T, sigmoid -> (N, T), one weight per frame.
    The 1x1 conv and the FCs keep PyTorch's default initialisation (as the authors'), so M_t depends on the clip."""

    def __init__(self, num_classes: int, num_frames: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(num_classes, 1, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm3d(1)
        self.frame_conv = nn.Conv2d(num_frames, num_frames, 1, bias=False)
        self.fc1 = nn.Linear(num_frames, num_frames)
        self.fc2 = nn.Linear(num_frames, num_frames)
        self.relu1 = nn.ReLU()  # one ReLU module per use (hook-based attribution needs this)
        self.relu2 = nn.ReLU()
        self.relu3 = nn.ReLU()
        self.sigmoid = nn.Sigmoid()

    def forward(self, maps: Tensor) -> Tensor:
        x = self.relu1(self.bn(self.conv(maps))).squeeze(1)               # (N, T, h, w)
        x = self.relu2(self.frame_conv(x)).mean(dim=(2, 3))               # (N, T)
        return self.sigmoid(self.fc2(self.relu3(self.fc1(x))))            # (N, T)


class SpatioTemporalAttentionBranch(nn.Module):
    """ST-ABN's attention branch: class maps A; logits from a K->K 1x1x1 conv averaged over h, w per frame,
    flattened to K·T, dropout, linear K·T->K; M_s = sigmoid(BN(1x1x1 conv K->1 (A))); M_t by
    :class:`TemporalAttention`.

    The layers whose shape depends on the clip length T (the K·T->K linear and the temporal attention) are
    built for ``num_frames``; with ``num_frames=None`` they are built, initialised, for the T of the first clips
    seen (convenient for tests and explanation code; training always passes ``num_frames``).
    """

    def __init__(self, depth: int, width: int, num_classes: int, num_frames: Optional[int], dropout: float,
                 block_temporal: str = "reference") -> None:
        super().__init__()
        self.num_classes = num_classes
        self.class_maps = ClassMaps(depth, width, num_classes, block_temporal)
        self.logit_conv = nn.Conv3d(num_classes, num_classes, 1, bias=False)
        self.logit_dropout = nn.Dropout(dropout)
        self.spatial_conv = nn.Conv3d(num_classes, 1, 1, bias=False)
        self.spatial_bn = nn.BatchNorm3d(1)
        self.spatial_sigmoid = nn.Sigmoid()
        self.num_frames = num_frames
        self.logit_fc: Optional[nn.Linear] = None
        self.temporal: Optional[TemporalAttention] = None
        if num_frames is not None:
            self._build_frame_layers(num_frames)

    def _build_frame_layers(self, num_frames: int, like: Optional[Tensor] = None) -> None:
        with torch.inference_mode(False):  # parameters must stay usable by autograd if built under no-grad
            self.logit_fc = nn.Linear(self.num_classes * num_frames, self.num_classes)
            self.temporal = TemporalAttention(self.num_classes, num_frames)
            init_weights(self.logit_fc)
            init_weights(self.temporal)
            if like is not None:
                self.logit_fc.to(device=like.device)
                self.temporal.to(device=like.device)
        self.num_frames = num_frames

    def forward(self, features: Tensor) -> AttentionMaps:
        frames = features.shape[2]
        if self.num_frames is None:
            self._build_frame_layers(frames, like=features)
        elif frames != self.num_frames:
            raise ValueError(f"this ST-ABN was built for clips of {self.num_frames} frames, got {frames} frames; "
                             f"ST-ABN's K·T attention head needs a fixed clip length")
        assert self.logit_fc is not None and self.temporal is not None  # built above
        maps = self.class_maps(features)                                  # (N, K, T, h, w)
        per_frame = self.logit_conv(maps).mean(dim=(3, 4))                # (N, K, T)
        logits = self.logit_fc(self.logit_dropout(per_frame.flatten(1)))  # (N, K)
        spatial = self.spatial_sigmoid(self.spatial_bn(self.spatial_conv(maps)))  # (N, 1, T, h, w)
        temporal = self.temporal(maps)                                    # (N, T)
        return AttentionMaps(logits, spatial, temporal)


class ResidualSpatialFusion(nn.Module):
    """ABN's attention mechanism: F' = F·(1 + M_s)."""

    def forward(self, features: Tensor, attention: AttentionMaps) -> Tensor:
        return features * (1 + attention.spatial)


class SpatioTemporalFusion(nn.Module):
    """ST-ABN's attention mechanism (the authors' ``conv_att_mechanism``): F_s = F·(1 + M_s), F_t = F·M_t,
    F' = BN(1x1x1 conv 2C->C (concat[F_s, F_t])), no ReLU, so F' can be negative: (N, C, T, h, w) -> (N, C, T, h, w).
    The conv is initialised like every other conv (:func:`~.backbone.init_weights`)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(2 * channels, channels, 1, bias=False)
        self.bn = nn.BatchNorm3d(channels)

    def forward(self, features: Tensor, attention: AttentionMaps) -> Tensor:
        assert attention.temporal is not None, "ST-ABN's fusion needs the temporal attention"
        spatial = features * (1 + attention.spatial)
        temporal = features * attention.temporal[:, None, :, None, None]
        return self.bn(self.conv(torch.cat([spatial, temporal], dim=1)))
