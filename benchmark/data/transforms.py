"""Spatial transforms of a clip and its ground-truth mask, applied with the same geometry.

Resize of the short side, centre crop (evaluation) or random crop (training), colour jitter (training, clip
only), optional horizontal flip (off by default: many SSv2 labels name a direction), ImageNet normalisation.
Resizing uses ``torchvision.transforms.v2``, which moves a ``tv_tensors.Mask`` with the video (nearest
interpolation); crops and flips cut the clip and the mask with the same offsets.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from ..config.schema import DataConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize(clips: torch.Tensor) -> torch.Tensor:
    """[0, 1] clips (..., C, T, H, W) -> ImageNet-normalised."""
    mean = torch.tensor(IMAGENET_MEAN, device=clips.device, dtype=clips.dtype).view(3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=clips.device, dtype=clips.dtype).view(3, 1, 1, 1)
    return (clips - mean) / std


def denormalize(clips: torch.Tensor) -> torch.Tensor:
    """ImageNet-normalised clips (..., C, T, H, W) -> [0, 1] (clamped), e.g. for plots."""
    mean = torch.tensor(IMAGENET_MEAN, device=clips.device, dtype=clips.dtype).view(3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=clips.device, dtype=clips.dtype).view(3, 1, 1, 1)
    return (clips * std + mean).clamp(0.0, 1.0)


class ClipTransform:
    """``(frames (T, H, W, 3) uint8, evidence (T, H, W) or None) -> {"clip": (C, T, h, w) float32, "evidence"}``.

    ``evidence`` comes back as (T, h, w) float32 in {0, 1} after exactly the clip's resize, crop and flip.
    Crops and flips are views of the frame array and the normalisation runs single-threaded in NumPy, so a
    clip that needs no resize or jitter (the synthetic default) costs about a millisecond even in the main
    process of a busy machine; resize and colour jitter use ``torchvision.transforms.v2``.
    """

    def __init__(self, resize: int, crop: int, train: bool, color_jitter: float = 0.0,
                 horizontal_flip: bool = False, normalise: bool = True):
        self.resize = resize
        self.crop = crop
        self.train = train
        self.horizontal_flip = horizontal_flip and train
        self.normalise = normalise
        self.resize_step = v2.Resize(resize, antialias=True)
        self.jitter = None
        if train and color_jitter > 0:
            s = color_jitter
            self.jitter = v2.ColorJitter(brightness=s, contrast=s, saturation=s, hue=min(s / 4, 0.5))

    @classmethod
    def from_config(cls, cfg: DataConfig, train: bool) -> "ClipTransform":
        return cls(cfg.resize, cfg.crop, train, cfg.color_jitter if train else 0.0, cfg.horizontal_flip)

    def crop_offsets(self, height: int, width: int) -> tuple[int, int]:
        """(top, left) of the crop: random when training, centred otherwise."""
        if height < self.crop or width < self.crop:
            raise ValueError(f"frames of {height}x{width} are smaller than the crop {self.crop}")
        if self.train:
            top = int(torch.randint(0, height - self.crop + 1, (1,)))
            left = int(torch.randint(0, width - self.crop + 1, (1,)))
            return top, left
        return (height - self.crop) // 2, (width - self.crop) // 2

    def __call__(self, frames: np.ndarray | torch.Tensor,
                 evidence: Optional[np.ndarray | torch.Tensor] = None) -> dict[str, torch.Tensor]:
        frames = np.asarray(frames)
        mask = np.asarray(evidence, dtype=np.uint8) if evidence is not None else None
        if min(frames.shape[1:3]) != self.resize:
            frames, mask = self._resize(frames, mask)
        top, left = self.crop_offsets(frames.shape[1], frames.shape[2])
        window = (slice(None), slice(top, top + self.crop), slice(left, left + self.crop))
        frames = frames[window]
        mask = mask[window] if mask is not None else None
        if self.horizontal_flip and bool(torch.rand(1) < 0.5):
            frames = frames[:, :, ::-1]
            mask = mask[:, :, ::-1] if mask is not None else None
        if self.jitter is not None:
            video = tv_tensors.Video(torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2))
            frames = self.jitter(video).as_subclass(torch.Tensor).permute(0, 2, 3, 1).numpy()
        result = {"clip": _to_float_clip(np.asarray(frames), self.normalise)}
        if mask is not None:
            result["evidence"] = torch.from_numpy(mask.astype(np.float32))
        return result

    def _resize(self, frames: np.ndarray, mask: Optional[np.ndarray]) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """Short side to ``resize`` (antialiased for the frames, nearest for the mask)."""
        video = tv_tensors.Video(torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2))
        if mask is None:
            return self.resize_step(video).as_subclass(torch.Tensor).permute(0, 2, 3, 1).numpy(), None
        video, resized = self.resize_step(video, tv_tensors.Mask(torch.from_numpy(np.ascontiguousarray(mask))))
        return video.as_subclass(torch.Tensor).permute(0, 2, 3, 1).numpy(), resized.as_subclass(torch.Tensor).numpy()


_MEAN_255 = np.array(IMAGENET_MEAN, dtype=np.float32) * 255
_INV_STD_255 = 1.0 / (np.array(IMAGENET_STD, dtype=np.float32) * 255)


def _to_float_clip(frames: np.ndarray, normalise: bool) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (3, T, H, W) float32, ImageNet-normalised or in [0, 1]."""
    if normalise:
        clip = (frames.astype(np.float32) - _MEAN_255) * _INV_STD_255
    else:
        clip = frames.astype(np.float32) / 255
    return torch.from_numpy(np.ascontiguousarray(clip.transpose(3, 0, 1, 2)))
