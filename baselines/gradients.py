"""Input-gradient methods from Captum (not re-implemented). Each returns an (N, C, T, H, W) attribution."""
from __future__ import annotations

import torch
from captum.attr import GuidedBackprop, InputXGradient, IntegratedGradients, NoiseTunnel, Saliency
from torch import nn

from .forward import LogitsOnly
from .registry import register_method

#: Mean ImageNet standard deviation: converts a noise level in pixel units ([0, 1] range) to normalised units.
_IMAGENET_STD_MEAN = (0.229 + 0.224 + 0.225) / 3


@register_method("saliency", cost="one-backward", kind="gradient")
def saliency(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Vanilla gradient of the target logit with respect to the clip (Captum Saliency)."""
    return Saliency(LogitsOnly(model)).attribute(clips, target=targets, abs=False)


@register_method("input-x-gradient", cost="one-backward", kind="gradient")
def input_x_gradient(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Input times gradient (Captum InputXGradient)."""
    return InputXGradient(LogitsOnly(model)).attribute(clips, target=targets)


@register_method("guided-backprop", cost="one-backward", kind="gradient")
def guided_backprop(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Guided backpropagation (Captum GuidedBackprop; hooks the model's ``nn.ReLU`` modules)."""
    return GuidedBackprop(LogitsOnly(model)).attribute(clips, target=targets)


@register_method("integrated-gradients", cost="many-forwards", kind="gradient")
def integrated_gradients(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor, n_steps: int = 16,
                         baseline: float = 0.0, batch_size: int = 8) -> torch.Tensor:
    """Integrated gradients (Captum) from a constant baseline clip (0 = the ImageNet mean colour).

    ``n_steps`` Gauss-Legendre steps; at most ``max(N, batch_size)`` interpolated clips per pass.
    """
    return IntegratedGradients(LogitsOnly(model)).attribute(
        clips, baselines=baseline, target=targets, n_steps=n_steps,
        internal_batch_size=max(clips.shape[0], batch_size))


@register_method("smoothgrad", cost="many-forwards", kind="gradient")
def smoothgrad(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor, nt_samples: int = 8,
               noise: float = 0.15, batch_size: int = 8) -> torch.Tensor:
    """SmoothGrad (Captum NoiseTunnel over Saliency): gradients averaged over ``nt_samples`` noisy copies.

    ``noise`` is the Gaussian standard deviation as a fraction of the pixel range [0, 1] (0.15 as in Smilkov et
    al.), converted to normalised units; at most ``batch_size`` noisy clips per pass.
    """
    return NoiseTunnel(Saliency(LogitsOnly(model))).attribute(
        clips, nt_type="smoothgrad", nt_samples=nt_samples, stdevs=noise / _IMAGENET_STD_MEAN,
        nt_samples_batch_size=max(1, batch_size // clips.shape[0]), target=targets, abs=False)
