"""The tensor-returning forward function Captum needs, around a model that returns ``VideoModelOutput``."""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn


class LogitsOnly(nn.Module):
    """Wraps a video model so that ``forward(clips)`` returns the perception logits (N, K).

    It is an ``nn.Module`` holding the model as a child, so Captum's module hooks (guided backprop on the
    model's ``nn.ReLU`` modules) reach every layer.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """(N, C, T, H, W) -> (N, K) logits."""
        return self.model(clips).logits


def model_device(model: nn.Module) -> torch.device:
    param = next(iter(model.parameters()), None)
    return param.device if param is not None else torch.device("cpu")


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode (BatchNorm statistics, no dropout) and restore its previous mode after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
