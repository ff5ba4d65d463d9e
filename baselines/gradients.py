"""Input-gradient methods from Captum (not re-implemented). Each returns an (N, C, T, H, W) attribution.

Reference-based methods (integrated gradients, DeepLift, DeepLiftShap, GradientShap) compare the clip with a
reference clip: ``zero`` is the ImageNet mean colour (clips are ImageNet-normalised), ``blur`` the clip with every
frame blurred (the substrate of the deletion metrics), and the Shap variants draw from a few references (the mean
colour and noisy copies of it). Every method reaches the model through :class:`~baselines.forward.LogitsOnly`.
"""
from __future__ import annotations

import torch
from captum.attr import (
    DeepLift, DeepLiftShap, GradientShap, GuidedBackprop, InputXGradient, IntegratedGradients, NoiseTunnel, Saliency,
)
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


#: the single references DeepLift may start from
REFERENCES = ("zero", "blur")


def reference_clips(clips: torch.Tensor, reference: str, blur_sigma: float = 5.0) -> torch.Tensor:
    """The reference (N, C, T, H, W) of ``clips``: ``zero`` (the ImageNet mean colour) or ``blur`` (each frame
    blurred with a Gaussian of ``blur_sigma`` pixels)."""
    if reference == "zero":
        return torch.zeros_like(clips)
    if reference == "blur":
        from stabn_bench.metrics.substrates import blur_frames

        return blur_frames(clips.detach(), blur_sigma)
    raise ValueError(f"option 'reference' must be one of {', '.join(REFERENCES)}, got {reference!r}")


def reference_distribution(clips: torch.Tensor, references: int, noise: float) -> torch.Tensor:
    """(references, C, T, H, W): the mean-colour clip and ``references - 1`` Gaussian-noise clips around it
    (standard deviation ``noise`` of the pixel range), drawn from the seeded generator of ``baselines.explain``."""
    if references < 1:
        raise ValueError(f"option 'references' must be >= 1, got {references}")
    shape = (references, *clips.shape[1:])
    out = torch.randn(shape).to(clips.device, clips.dtype) * (noise / _IMAGENET_STD_MEAN)
    out[0] = 0.0
    return out


@register_method("deeplift", cost="one-backward", kind="gradient")
def deeplift(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor, reference: str = "zero",
             blur_sigma: float = 5.0) -> torch.Tensor:
    """DeepLift (Captum, Rescale rule) against one reference clip: ``zero`` (mean colour) or ``blur``.

    Needs a model that uses every module once per forward pass and no in-place operations on hooked tensors.
    """
    return DeepLift(LogitsOnly(model)).attribute(
        clips, baselines=reference_clips(clips, reference, blur_sigma), target=targets)


@register_method("deeplift-shap", cost="many-forwards", kind="gradient")
def deeplift_shap(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor, references: int = 4,
                  noise: float = 0.15, batch_size: int = 8) -> torch.Tensor:
    """DeepLiftShap (Captum): DeepLift averaged over ``references`` reference clips (the mean colour and noisy
    copies of it, see :func:`reference_distribution`); at most ``max(batch_size, references)`` clips per pass."""
    refs = reference_distribution(clips, references, noise)
    explainer = DeepLiftShap(LogitsOnly(model))
    step = max(1, batch_size // references)
    parts = [explainer.attribute(clips[i:i + step], baselines=refs, target=targets[i:i + step])
             for i in range(0, clips.shape[0], step)]
    return torch.cat(parts)


@register_method("gradient-shap", cost="many-forwards", kind="gradient")
def gradient_shap(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor, n_samples: int = 8,
                  references: int = 4, noise: float = 0.15, stdevs: float = 0.0, batch_size: int = 8) -> torch.Tensor:
    """GradientShap (Captum): expected gradients over ``n_samples`` random points between the clip (plus Gaussian
    noise of ``stdevs`` of the pixel range) and references drawn from :func:`reference_distribution`; at most
    ``batch_size`` clips per pass."""
    refs = reference_distribution(clips, references, noise)
    explainer = GradientShap(LogitsOnly(model))
    step = max(1, batch_size // n_samples)
    parts = [explainer.attribute(clips[i:i + step], baselines=refs, target=targets[i:i + step], n_samples=n_samples,
                                 stdevs=stdevs / _IMAGENET_STD_MEAN)
             for i in range(0, clips.shape[0], step)]
    return torch.cat(parts)
