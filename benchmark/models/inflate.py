"""Initialise a slow-only 3D ResNet by inflating a 2D torchvision ResNet state dict read from a local file.

Each 2D conv kernel (O, I, kh, kw) is copied along t and divided by kernel_t, so a clip whose frames are all the
same image gives every frame the 2D network's features (away from the zero-padded clip ends). The 2D ``layer4``
initialises both res5 stages (perception branch and ST-ABN/ABN attention branch); the 2D ``fc`` is not used
(the class count differs); the attention-specific layers keep their fresh initialisation.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError

#: 3D parameter-name prefix -> 2D torchvision ResNet prefix.
PREFIX_MAP = (
    ("stem.conv.", "conv1."),
    ("stem.bn.", "bn1."),
    ("res2.", "layer1."),
    ("res3.", "layer2."),
    ("res4.", "layer3."),
    ("perception_branch.res5.", "layer4."),
    ("attention_branch.class_maps.res5.", "layer4."),
)


def source_key(name: str) -> str | None:
    """The 2D state-dict key that initialises the 3D parameter or buffer ``name`` (None: not inflated)."""
    for prefix3d, prefix2d in PREFIX_MAP:
        if name.startswith(prefix3d):
            return prefix2d + name[len(prefix3d):]
    return None


def inflate_tensor(weight2d: torch.Tensor, shape3d: torch.Size) -> torch.Tensor:
    """(O, I, kh, kw) -> (O, I, kt, kh, kw): copy along t, divide by kt. Non-conv tensors are returned as they are."""
    if len(shape3d) == 5 and weight2d.dim() == 4:
        kt = shape3d[2]
        return weight2d.unsqueeze(2).repeat(1, 1, kt, 1, 1) / kt
    return weight2d


def read_2d_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"model.inflate_from: file '{path}' does not exist (2D ResNet weights are never downloaded)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same user error
        raise CheckpointError(f"model.inflate_from: '{path}' is not a readable torch state dict ({type(err).__name__})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"model.inflate_from: '{path}' holds a {type(state).__name__}, not a state dict")
    return {re.sub(r"^module\.", "", k): v for k, v in state.items() if isinstance(v, torch.Tensor)}


@torch.no_grad()
def inflate_into(model: nn.Module, path_or_state: str | Path | dict[str, torch.Tensor]) -> list[str]:
    """Copy inflated 2D weights into ``model`` in place; returns the 3D names that were initialised.

    Raises CheckpointError naming the key when the 2D file lacks a layer or its shape does not fit
    (for example weights of another depth or width).
    """
    state2d = path_or_state if isinstance(path_or_state, dict) else read_2d_state_dict(path_or_state)
    where = "the given state dict" if isinstance(path_or_state, dict) else f"'{path_or_state}'"
    target = model.state_dict()
    loaded = []
    for name, tensor in target.items():
        key = source_key(name)
        if key is None or name.endswith("num_batches_tracked"):
            continue
        if key not in state2d:
            raise CheckpointError(f"model.inflate_from {where} has no '{key}' (needed for '{name}'); "
                                  f"is it a torchvision ResNet-{getattr(model, 'depth', '?')} state dict?")
        value = inflate_tensor(state2d[key], tensor.shape)
        if value.shape != tensor.shape:
            raise CheckpointError(f"model.inflate_from {where}: '{key}' has shape {tuple(state2d[key].shape)}, "
                                  f"'{name}' needs {tuple(tensor.shape)} (depth/width mismatch?)")
        tensor.copy_(value)
        loaded.append(name)
    return loaded
