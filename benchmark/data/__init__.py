"""Video data: the embedded synthetic data set, SSv2 / CSV / folder readers, sampling and transforms.

Entry points: :func:`build_dataset` (items as in the shared contract), :func:`collate_clips` (the DataLoader
``collate_fn``), :func:`ensure_synthetic` (cached generation) and :func:`load_ground_truth`.
"""
from __future__ import annotations

from .actions import ACTIONS, DEFAULT_ACTIONS, Action
from .collate import SkipReport, collate_clips
from .datasets import (
    ArrowOfTimeDataset,
    DecodeFailure,
    VideoClipDataset,
    arrow_of_time_dataset,
    build_dataset,
    csv_dataset,
    folder_dataset,
    ssv2_dataset,
)
from .ground_truth import GroundTruth, load_ground_truth
from .sampling import consecutive_indices, sample_indices, uniform_indices
from .synthetic import ensure_synthetic, generate_synthetic, read_manifest, render_clip
from .transforms import IMAGENET_MEAN, IMAGENET_STD, ClipTransform, denormalize, normalize
from .video_io import VideoDecodeError, VideoFile, read_video, write_video

__all__ = [
    "ACTIONS", "ArrowOfTimeDataset", "arrow_of_time_dataset", "Action", "ClipTransform", "DEFAULT_ACTIONS", "DecodeFailure", "GroundTruth", "IMAGENET_MEAN",
    "IMAGENET_STD", "SkipReport", "VideoClipDataset", "VideoDecodeError", "VideoFile", "build_dataset",
    "collate_clips", "consecutive_indices", "csv_dataset", "denormalize", "ensure_synthetic", "folder_dataset",
    "generate_synthetic", "load_ground_truth", "normalize", "read_manifest", "read_video", "render_clip",
    "sample_indices", "ssv2_dataset", "uniform_indices", "write_video",
]
