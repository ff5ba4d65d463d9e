"""Which frames of a video make a clip: TSN-uniform segments or consecutive frames with a stride.

Pure functions of the video length; randomness (training) comes from an optional ``torch.Generator`` so that
DataLoader workers, which seed torch per worker, never repeat each other.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch


def _uniform(generator: Optional[torch.Generator], size: int | tuple[int, ...]) -> np.ndarray:
    return torch.rand(size, generator=generator, dtype=torch.float64).numpy()


def uniform_indices(num_video_frames: int, num_frames: int, train: bool,
                    generator: Optional[torch.Generator] = None) -> np.ndarray:
    """(num_frames,) indices: the video cut into ``num_frames`` equal segments, one frame from each.

    Training takes a random frame in every segment; evaluation takes every segment's centre. A video
    shorter than ``num_frames`` repeats frames (indices stay sorted).
    """
    if num_video_frames < 1 or num_frames < 1:
        raise ValueError(f"need at least one frame, got video of {num_video_frames} and clip of {num_frames}")
    segment = num_video_frames / num_frames
    offsets = _uniform(generator, num_frames) if train else np.full(num_frames, 0.5)
    indices = np.floor((np.arange(num_frames) + offsets) * segment).astype(np.int64)
    return np.clip(indices, 0, num_video_frames - 1)


def consecutive_indices(num_video_frames: int, num_frames: int, stride: int, train: bool,
                        generator: Optional[torch.Generator] = None) -> np.ndarray:
    """(num_frames,) indices ``start, start + stride, ...``.

    Training starts at a random frame; evaluation centres the span in the video. A video shorter than the
    span repeats its last frame.
    """
    if num_video_frames < 1 or num_frames < 1 or stride < 1:
        raise ValueError(f"need at least one frame and stride >= 1, got {num_video_frames}, {num_frames}, {stride}")
    span = (num_frames - 1) * stride + 1
    slack = max(num_video_frames - span, 0)
    if train:
        start = int(torch.randint(0, slack + 1, (1,), generator=generator))
    else:
        start = slack // 2
    indices = start + stride * np.arange(num_frames, dtype=np.int64)
    return np.minimum(indices, num_video_frames - 1)


def sample_indices(method: str, num_video_frames: int, num_frames: int, stride: int, train: bool,
                   generator: Optional[torch.Generator] = None) -> np.ndarray:
    """Dispatch on ``method`` (``uniform`` or ``consecutive``, as in ``data.sampling``)."""
    if method == "uniform":
        return uniform_indices(num_video_frames, num_frames, train, generator)
    if method == "consecutive":
        return consecutive_indices(num_video_frames, num_frames, stride, train, generator)
    raise ValueError(f"unknown sampling {method!r}; valid: uniform, consecutive")
