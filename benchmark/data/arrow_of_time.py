"""The arrow-of-time task on any folder of videos (Pickup et al., CVPR 2014; Wei et al., CVPR 2018).

Clips of ``data.num_frames`` frames, ``data.stride`` apart, are cut from every video under ``data.root`` (searched
recursively, first frames ``arrow_of_time.clip_step`` apart). Each clip is shown in every *view*:

==========  =====  ===========================================================
view        label  frames of a clip starting at ``s`` (T frames, stride ``k``)
==========  =====  ===========================================================
forward     0      ``s, s + k, ..., s + (T - 1) k``
reversed    1      the forward frames in the opposite order
double      2      ``s, s + 2k, ..., s + 2 (T - 1) k`` (only with ``double_speed``)
==========  =====  ===========================================================

so the classes are balanced and the label can only be read from motion. Splits are made of whole source videos
(no clip of a test video is seen in training), assigned by a seeded permutation of the sorted relative paths.
Static clips, whose mean absolute difference of consecutive frames is below ``min_motion`` grey levels, are dropped
(their direction is undecidable) and counted in the log. The data set has no ground truth.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np

from ..config.schema import ArrowOfTimeConfig, DataConfig
from ..errors import DataError
from .ssv2 import ClipRecord
from .video_io import VIDEO_EXTENSIONS, VideoFile

log = logging.getLogger("stabn_bench.data")

FORWARD, REVERSED, DOUBLE_SPEED = 0, 1, 2
CLASS_NAMES = ("forward", "reversed", "double-speed")
SPLIT_INDEX = {"train": 0, "validation": 1, "val": 1, "test": 2}


def class_names(double_speed: bool) -> list[str]:
    """``["forward", "reversed"]`` plus ``"double-speed"`` when the third class is on."""
    return list(CLASS_NAMES[: 3 if double_speed else 2])


def reversal_label_map(double_speed: bool) -> list[int]:
    """Label of a clip after its frames are put in reverse order, per label (-1: no class of the task).

    forward <-> reversed; a reversed double-speed clip is none of the classes.
    """
    return [REVERSED, FORWARD, -1][: 3 if double_speed else 2]


@dataclass(frozen=True)
class ArrowClipRecord(ClipRecord):
    """A clip of the arrow-of-time task: ``indices`` are the video's frames in the order they are shown."""

    indices: tuple[int, ...] = ()
    video: str = ""


def find_videos(root: str | os.PathLike) -> list[Path]:
    """Every video file under ``root`` (recursively; ``VIDEO_EXTENSIONS``), sorted by relative path."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"arrow-of-time data root '{root}' does not exist or is not a folder "
                        f"(data.root must be a folder holding video files: {', '.join(VIDEO_EXTENSIONS)})")
    videos = sorted((p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS),
                    key=lambda p: p.relative_to(root).as_posix())
    if not videos:
        raise DataError(f"arrow-of-time data root '{root}' holds no video files ({', '.join(VIDEO_EXTENSIONS)}), "
                        "searched recursively")
    return videos


def split_videos(names: list[str], fractions: list[float], seed: int) -> list[list[str]]:
    """Assign whole videos to (train, validation, test): a seeded permutation cut by ``fractions``.

    Every split with a positive fraction gets at least one video; train gets the rest. Deterministic in
    (names, fractions, seed) and independent of the order of ``names``.
    """
    names = sorted(names)
    wanted = [i for i, f in enumerate(fractions) if f > 0]
    if len(names) < len(wanted):
        raise DataError(f"the arrow-of-time split {fractions} needs at least {len(wanted)} source videos, found "
                        f"{len(names)}: add videos or set a fraction of data.arrow_of_time.split to 0")
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    counts = [0, 0, 0]
    for i in (1, 2):
        if fractions[i] > 0:
            counts[i] = max(1, int(round(fractions[i] * len(names))))
    reserve = 1 if fractions[0] > 0 else 0
    while counts[1] + counts[2] > len(names) - reserve:  # keep a video for training: shrink the larger split
        counts[1 if counts[1] >= counts[2] and counts[1] > (fractions[1] > 0) else 2] -= 1
    counts[0] = len(names) - counts[1] - counts[2]
    test = order[:counts[2]]
    val = order[counts[2]:counts[2] + counts[1]]
    train = order[counts[2] + counts[1]:]
    return [sorted(train), sorted(val), sorted(test)]


def clip_starts(num_video_frames: int, span: int, step: int, max_clips: int) -> list[int]:
    """First frames of the clips of a video: ``0, step, 2 step, ...`` while a span of ``span`` frames fits;
    with ``max_clips`` > 0, at most that many, spread evenly over the candidates."""
    starts = list(range(0, num_video_frames - span + 1, step))
    if max_clips and len(starts) > max_clips:
        keep = np.round(np.linspace(0, len(starts) - 1, max_clips)).astype(int)
        starts = [starts[i] for i in keep]
    return starts


def motion_energy(frames: np.ndarray) -> np.ndarray:
    """Per-step motion of a clip: mean absolute grey-level difference of consecutive frames.

    frames: (T, H, W, 3) uint8 -> (T - 1,) float64 in grey levels 0..255.
    """
    grey = frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.abs(np.diff(grey, axis=0)).mean(axis=(1, 2)).astype(np.float64)


@dataclass(frozen=True)
class VideoClips:
    """The kept and the static clip starts of one video."""

    num_frames: int
    starts: tuple[int, ...]
    static: int


@lru_cache(maxsize=4096)
def _scan_video(path: str, mtime_ns: int, size: int, num_frames: int, stride: int, speed: int, step: int,
                max_clips: int, min_motion: float) -> VideoClips:
    """Cut one video into clip starts and drop the static ones (cached per file version and settings)."""
    video = VideoFile(path)
    span = (num_frames - 1) * stride * speed + 1
    starts = clip_starts(len(video), span, step, max_clips)
    if not starts:
        return VideoClips(len(video), (), 0)
    needed = sorted({s + stride * i for s in starts for i in range(num_frames)})
    frames = dict(zip(needed, video.read(needed)))
    kept = []
    for start in starts:
        clip = np.stack([frames[start + stride * i] for i in range(num_frames)])
        if motion_energy(clip).mean() >= min_motion:
            kept.append(start)
    return VideoClips(len(video), tuple(kept), len(starts) - len(kept))


def scan_video(path: Path, data: DataConfig) -> VideoClips:
    aot = data.arrow_of_time
    stat = path.stat()
    return _scan_video(str(path), stat.st_mtime_ns, stat.st_size, data.num_frames, data.stride,
                       2 if aot.double_speed else 1, aot.clip_step, aot.max_clips_per_video, float(aot.min_motion))


def view_indices(start: int, num_frames: int, stride: int, label: int) -> tuple[int, ...]:
    """The frames shown, in order, for the view ``label`` of the clip starting at ``start``."""
    forward = [start + stride * i for i in range(num_frames)]
    if label == FORWARD:
        return tuple(forward)
    if label == REVERSED:
        return tuple(reversed(forward))
    if label == DOUBLE_SPEED:
        return tuple(start + 2 * stride * i for i in range(num_frames))
    raise ValueError(f"unknown arrow-of-time label {label}; valid: 0 (forward), 1 (reversed), 2 (double speed)")


def arrow_of_time_records(data: DataConfig, split: str) -> tuple[list[ArrowClipRecord], list[str]]:
    """The records and class names of ``split`` (train, validation, test) of the arrow-of-time task on ``data.root``.

    Logs the videos of the split and how many clips were dropped as static or because a video is too short.
    """
    aot: ArrowOfTimeConfig = data.arrow_of_time
    if split not in SPLIT_INDEX:
        raise DataError(f"arrow-of-time split {split!r} does not exist; valid: train, validation, test")
    root = Path(data.root)
    videos = find_videos(root)
    by_name = {p.relative_to(root).with_suffix("").as_posix(): p for p in videos}
    names = split_videos(list(by_name), list(aot.split), aot.seed)[SPLIT_INDEX[split]]
    if not names:
        raise DataError(f"arrow-of-time split {split!r} has no source videos (data.arrow_of_time.split = "
                        f"{list(aot.split)} over {len(videos)} videos under '{root}')")
    classes = class_names(aot.double_speed)
    records: list[ArrowClipRecord] = []
    static = short = 0
    for name in names:
        clips = scan_video(by_name[name], data)
        static += clips.static
        short += not clips.starts and not clips.static
        for start in clips.starts:
            for label in range(len(classes)):
                records.append(ArrowClipRecord(f"{name}@{start:05d}:{classes[label]}", by_name[name], label,
                                               view_indices(start, data.num_frames, data.stride, label), name))
    log.info("arrow-of-time %s: %d videos, %d clips x %d views; dropped %d static clips (mean |frame difference| "
             "< %g grey levels)%s", split, len(names), len(records) // len(classes), len(classes), static,
             aot.min_motion, f"; {short} videos too short for one clip" if short else "")
    if not records:
        raise DataError(f"arrow-of-time split {split!r} has no clips: its {len(names)} videos under '{root}' are "
                        f"too short for {data.num_frames} frames at stride {data.stride} or static (dropped "
                        f"{static} clips below data.arrow_of_time.min_motion={aot.min_motion})")
    return records, classes


def read_clip(record: ArrowClipRecord, cache: Optional[dict] = None) -> np.ndarray:
    """The frames of ``record`` in the order shown: (T, H, W, 3) uint8. ``cache``: path -> all decoded frames."""
    indices = list(record.indices)
    if cache is None:
        video = VideoFile(record.path)
        unique = sorted(set(indices))
        frames = dict(zip(unique, video.read(unique)))
        return np.stack([frames[i] for i in indices])
    key = str(record.path)
    if key not in cache:
        cache[key] = VideoFile(record.path).read()
    return cache[key][indices]
