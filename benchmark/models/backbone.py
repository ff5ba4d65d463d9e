"""The slow-only 3D ResNet shared by ``baseline``, ``abn`` and ``stabn``, as in the ST-ABN authors' code.

docs/design.md section 2: conv1 is 1x7x7 with stride (1, 2, 2), max-pool 1x3x3 with stride (1, 2, 2), and there is no
temporal stride anywhere, so every stage keeps the clip's T frames. Temporal kernels (``block_temporal``):

- ``"reference"`` (default, the authors' ``resnet_abn_v1``): bottleneck blocks (depths 50, 101) are 2D in res2/res3
  (1x1x1 / 1x3x3) and have a 3x1x1 first conv in res4/res5; basic blocks (depths 18, 34) are 3x3x3 in both convs
  of every stage;
- ``"slow-only"`` (an option): basic blocks are 1x3x3 in res2/res3 and in every second conv, 3x3x3 only in the
  first conv of res4/res5 blocks; bottlenecks as in ``"reference"``.

Initialisation (:func:`init_weights`) is the authors' too: every Conv3d normal(0, sqrt(2/n)) with
n = kernel[0]·kernel[1]·out_channels, BN weight 1 / bias 0, Conv2d and Linear PyTorch's default.

Module and parameter names inside the blocks follow torchvision's 2D ResNet (``conv1``, ``bn1``, ...,
``downsample.0``) so that 2D weights inflate by name (:mod:`stabn_bench.benchmark.models.inflate`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import math

import torch
from torch import Tensor, nn


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual; ``temporal_kernels`` = (kt1, kt2) gives each conv kt x3x3 (3 or 1)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, temporal_kernels: tuple[int, ...] = (1, 1),
                 downsample: Optional[nn.Module] = None) -> None:
        super().__init__()
        kt1, kt2 = temporal_kernels
        self.conv1 = nn.Conv3d(inplanes, planes, (kt1, 3, 3), stride=(1, stride, stride), padding=(kt1 // 2, 1, 1),
                               bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, (kt2, 3, 3), padding=(kt2 // 2, 1, 1), bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.relu1 = nn.ReLU()  # one ReLU module per use (hook-based attribution, e.g. DeepLift, needs this)
        self.relu2 = nn.ReLU()
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + identity)


class Bottleneck(nn.Module):
    """kt x1x1 -> 1x3x3 (spatial stride here) -> 1x1x1 with a residual; ``temporal_kernels`` = (kt,), 3 in res4/res5."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, temporal_kernels: tuple[int, ...] = (1,),
                 downsample: Optional[nn.Module] = None) -> None:
        super().__init__()
        (kt,) = temporal_kernels
        self.conv1 = nn.Conv3d(inplanes, planes, (kt, 1, 1), padding=(kt // 2, 0, 0), bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = nn.Conv3d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * self.expansion)
        self.relu1 = nn.ReLU()  # one ReLU module per use (hook-based attribution, e.g. DeepLift, needs this)
        self.relu2 = nn.ReLU()
        self.relu3 = nn.ReLU()
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu3(out + identity)


Block = type[Union[BasicBlock, Bottleneck]]


class Stem(nn.Module):
    """1x7x7 conv, stride (1, 2, 2) -> BN -> ReLU -> 1x3x3 max-pool, stride (1, 2, 2): (N, 3, T, H, W) -> (N, C, T, H/4, W/4)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, width, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False)
        self.bn = nn.BatchNorm3d(width)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.relu(self.bn(self.conv(x))))


@dataclass(frozen=True)
class BackboneSpec:
    """Block type and blocks per stage (res2..res5) of one ResNet depth."""

    block: Block
    layers: tuple[int, int, int, int]


#: ResNet depth -> block type and blocks per stage, as in He et al. (2016).
DEPTHS: dict[int, BackboneSpec] = {
    18: BackboneSpec(BasicBlock, (2, 2, 2, 2)),
    34: BackboneSpec(BasicBlock, (3, 4, 6, 3)),
    50: BackboneSpec(Bottleneck, (3, 4, 6, 3)),
    101: BackboneSpec(Bottleneck, (3, 4, 23, 3)),
}

#: Temporal kernel of the first conv of every block, per stage (res2, res3, res4, res5), in slow-only blocks.
TEMPORAL_KERNELS = (1, 1, 3, 3)

#: Values of ``model.block_temporal``: the authors' temporal kernels (default) or the slow-only variant.
BLOCK_TEMPORAL = ("reference", "slow-only")


def block_temporal_kernels(block: Block, stage: int, block_temporal: str = "reference") -> tuple[int, ...]:
    """Temporal kernel sizes of the temporal-capable convs of one block in stage ``stage`` (2..5):
    (kt1, kt2) for a basic block, (kt1,) for a bottleneck (see the module docstring)."""
    if block_temporal not in BLOCK_TEMPORAL:
        raise ValueError(f"block_temporal '{block_temporal}' is not valid; valid values: {', '.join(BLOCK_TEMPORAL)}")
    first = TEMPORAL_KERNELS[stage - 2]
    if block is BasicBlock:
        return (3, 3) if block_temporal == "reference" else (first, 1)
    return (first,)


def backbone_spec(depth: int) -> BackboneSpec:
    if depth not in DEPTHS:
        raise ValueError(f"ResNet depth {depth} is not supported; valid depths: {', '.join(map(str, DEPTHS))}")
    return DEPTHS[depth]


def make_stage(block: Block, inplanes: int, planes: int, blocks: int, spatial_stride: int,
               temporal_kernels: tuple[int, ...]) -> nn.Sequential:
    """One ResNet stage: ``blocks`` blocks, the first with the spatial stride and a 1x1x1 projection shortcut
    where the shape changes. (N, inplanes, T, H, W) -> (N, planes * expansion, T, H / stride, W / stride)."""
    downsample = None
    if spatial_stride != 1 or inplanes != planes * block.expansion:
        downsample = nn.Sequential(
            nn.Conv3d(inplanes, planes * block.expansion, 1, stride=(1, spatial_stride, spatial_stride), bias=False),
            nn.BatchNorm3d(planes * block.expansion),
        )
    layers = [block(inplanes, planes, spatial_stride, temporal_kernels, downsample)]
    layers += [block(planes * block.expansion, planes, 1, temporal_kernels) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def make_res5(depth: int, width: int, spatial_stride: int, block_temporal: str = "reference") -> nn.Sequential:
    """The res5 stage of the given depth/width; spatial stride 2 in the perception branch, 1 in the attention branch."""
    spec = backbone_spec(depth)
    return make_stage(spec.block, stage_channels(depth, width, 4), 8 * width, spec.layers[3], spatial_stride,
                      block_temporal_kernels(spec.block, 5, block_temporal))


def stage_channels(depth: int, width: int, stage: int) -> int:
    """Output channels of stage ``stage`` (1 = stem, 2..5 = res2..res5): 1024 for res4 and 2048 for res5 at depth 50, width 64."""
    if stage == 1:
        return width
    return width * 2 ** (stage - 2) * backbone_spec(depth).block.expansion


def conv3d_init_std(conv: nn.Conv3d) -> float:
    """The authors' conv init std sqrt(2/n), n = kernel[0]·kernel[1]·out_channels (kernel[0] is the temporal size)."""
    return math.sqrt(2.0 / (conv.kernel_size[0] * conv.kernel_size[1] * conv.out_channels))


@torch.no_grad()
def init_weights(module: nn.Module) -> None:
    """The one initialisation of every network here, the authors': Conv3d normal(0, :func:`conv3d_init_std`),
    BN weight 1 / bias 0, Conv2d and Linear PyTorch's default (``reset_parameters``)."""
    for m in module.modules():
        if isinstance(m, nn.Conv3d):
            m.weight.normal_(0.0, conv3d_init_std(m))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm3d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.Linear, nn.Conv2d)):
            m.reset_parameters()


def make_feature_stages(depth: int, width: int, block_temporal: str = "reference"
                        ) -> tuple[Stem, nn.Sequential, nn.Sequential, nn.Sequential]:
    """stem, res2, res3, res4: together (N, 3, T, H, W) -> F of shape (N, C, T, H/16, W/16),
    C = ``stage_channels(depth, width, 4)`` (1024 at depth 50, width 64)."""
    spec = backbone_spec(depth)
    stages = []
    for i, stride in enumerate((1, 2, 2)):
        stages.append(make_stage(spec.block, stage_channels(depth, width, i + 1), width * 2**i, spec.layers[i],
                                 stride, block_temporal_kernels(spec.block, i + 2, block_temporal)))
    return Stem(width), stages[0], stages[1], stages[2]
