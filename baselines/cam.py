"""Class activation maps from Captum on a chosen layer of the model (default: the perception branch's res5).

``layer`` (``explain.options.gradcam.layer``, also for ``guided-gradcam``) names one of
:data:`~stabn_bench.benchmark.models.GRADCAM_LAYERS`: ``res5`` (perception branch, H/32), ``res4`` / ``features``
(the feature map F, H/16), ``fused`` (F' after the attention mechanism, H/16) or ``attention-res5`` (the attention
branch's res5 at stride 1, H/16). ``gradcam-attention`` is Grad-CAM on ``attention-res5``: the resolution of
ABN's / ST-ABN's attention maps, so that M_s and Grad-CAM can be compared at equal resolution.
"""
from __future__ import annotations

import torch
from captum.attr import GuidedGradCam, LayerGradCam
from torch import nn

from .forward import LogitsOnly
from .registry import register_method

#: the heads whose logits ``gradcam-attention`` can explain
HEADS = ("perception", "attention")


def gradcam_layer(model: nn.Module, layer: str = "res5") -> nn.Module:
    """The module whose output (N, C, T, h, w) Grad-CAM weighs. Models of this project name their layers
    (``model.cam_layer``); other models provide ``model.gradcam_layer``, used for ``res5``."""
    cam_layer = getattr(model, "cam_layer", None)
    if callable(cam_layer):
        return cam_layer(layer)
    found = getattr(model, "gradcam_layer", None)
    if layer != "res5":
        raise ValueError(f"Grad-CAM layer '{layer}' needs a model with named layers (model.cam_layer); "
                         f"the model ({type(model).__name__}) offers only 'res5' (its gradcam_layer)")
    if not isinstance(found, nn.Module):
        raise ValueError(f"the model ({type(model).__name__}) has no 'gradcam_layer' module")
    return found


class AttentionLogits(nn.Module):
    """Wraps a video model so that ``forward(clips)`` returns the attention branch's logits (N, K)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        logits = self.model(clips).attention_logits
        if logits is None:
            raise ValueError(f"the model ({getattr(self.model, 'arch', type(self.model).__name__)}) has no attention "
                             "branch logits")
        return logits


@register_method("gradcam", cost="one-backward", kind="cam")
def gradcam(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor, layer: str = "res5") -> torch.Tensor:
    """Grad-CAM (Captum LayerGradCam, ReLU of the weighted channel sum) on ``layer`` (default: the perception
    branch's res5). Channel weights are the gradients averaged over (T, h, w). Returns (N, 1, T, h, w),
    upsampled trilinearly.
    """
    return LayerGradCam(LogitsOnly(model), gradcam_layer(model, layer)).attribute(
        clips, target=targets, relu_attributions=True)


@register_method("gradcam-attention", models=("abn", "stabn"), cost="one-backward", kind="cam")
def gradcam_attention(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor,
                      head: str = "perception") -> torch.Tensor:
    """Grad-CAM on the attention branch's res5 (H/16, the resolution of M_s) for the ``head`` logits
    (``perception``: the prediction, default; ``attention``: the attention branch's own). Returns (N, 1, T, h, w).
    """
    if head not in HEADS:
        raise ValueError(f"gradcam-attention option head={head!r}; valid: {', '.join(HEADS)}")
    forward = LogitsOnly(model) if head == "perception" else AttentionLogits(model)
    return LayerGradCam(forward, gradcam_layer(model, "attention-res5")).attribute(
        clips, target=targets, relu_attributions=True)


@register_method("guided-gradcam", cost="one-backward", kind="cam")
def guided_gradcam(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor, layer: str = "res5") -> torch.Tensor:
    """Guided Grad-CAM (Captum): guided backprop times the trilinearly upsampled Grad-CAM map of ``layer`` (two
    backward passes). Returns (N, C, T, H, W).
    """
    return GuidedGradCam(LogitsOnly(model), gradcam_layer(model, layer)).attribute(
        clips, target=targets, interpolate_mode="trilinear")
