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
def preserved_state(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode and hand it back exactly as it came: every sub-module's train/eval flag, every
    buffer (BatchNorm running statistics, counters) and every parameter's ``requires_grad``. A method that switches
    the model to train mode, or updates its statistics, therefore cannot change the scores of the methods after it."""
    modes = [(module, module.training) for module in model.modules()]
    buffers = [(buffer, buffer.detach().clone()) for buffer in model.buffers()]
    grads = [(param, param.requires_grad) for param in model.parameters()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training
        with torch.no_grad():
            for buffer, saved in buffers:
                if buffer.shape == saved.shape:
                    buffer.copy_(saved)
        for param, requires_grad in grads:
            param.requires_grad_(requires_grad)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode (BatchNorm statistics, no dropout) and restore its previous mode after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
