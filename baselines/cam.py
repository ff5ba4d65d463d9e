"""Class activation maps from Captum on the last stage of the perception branch (``model.gradcam_layer``)."""
from __future__ import annotations

import torch
from captum.attr import GuidedGradCam, LayerGradCam
from torch import nn

from .forward import LogitsOnly
from .registry import register_method


def gradcam_layer(model: nn.Module) -> nn.Module:
    """The module whose output (N, C, T, h, w) Grad-CAM weighs: the perception branch's last stage."""
    layer = getattr(model, "gradcam_layer", None)
    if not isinstance(layer, nn.Module):
        raise ValueError(f"the model ({type(model).__name__}) has no 'gradcam_layer' module")
    return layer


@register_method("gradcam", cost="one-backward", kind="cam")
def gradcam(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Grad-CAM (Captum LayerGradCam, ReLU of the weighted channel sum) on the perception branch's last stage.

    Channel weights are the gradients averaged over (T, h, w). Returns (N, 1, T, h, w), upsampled trilinearly.
    """
    return LayerGradCam(LogitsOnly(model), gradcam_layer(model)).attribute(
        clips, target=targets, relu_attributions=True)


@register_method("guided-gradcam", cost="one-backward", kind="cam")
def guided_gradcam(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Guided Grad-CAM (Captum): guided backprop times the trilinearly upsampled Grad-CAM map (two backward
    passes). Returns (N, C, T, H, W).
    """
    return GuidedGradCam(LogitsOnly(model), gradcam_layer(model)).attribute(
        clips, target=targets, interpolate_mode="trilinear")
