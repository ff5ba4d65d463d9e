"""Spatial ground truth for Something-Something V2 from the Something-Else box annotations.

Something-Else (Materzynska, Xiao, Herzig, Xu, Wang, Darrell: "Something-Else: Compositional Action Recognition
with Spatial-Temporal Interaction Networks", CVPR 2020) annotates 180,049 SSv2 videos with a box per frame for every
hand and every object of the clip's placeholders. The format, as documented in the authors' repository
(https://github.com/joaanna/something_else, README.md and ``annotate_videos.py``), read for this module:

- the annotation files (``bounding_box_smthsmth_part1.json`` ... ``_part4.json``, and the repository's small example
  ``annotations.json``) each hold one JSON object mapping a video id (the SSv2 id, a string) to a list of per-frame
  annotations;
- a per-frame annotation is ``{"name": "<video id>/<frame>.jpg", "labels": [{"box2d": {"x1", "x2", "y1", "y2"},
  "category": "<object name>" or "hand"}, ...], "gt_placeholders": [...], "nr_instances": n}``; ``<frame>`` is the
  1-based frame number, four digits, of the video decoded at 12 fps (the README: "the annotations assume that the
  frame rate of the videos is 12", the frame rate SSv2 is distributed at);
- box corners are pixel coordinates (x to the right, y down) in the original video frame (``annotate_videos.py``
  draws them unscaled on the extracted frames).

Here the union of a frame's boxes (hands and objects, edges included; coordinates clipped to the frame) becomes that
frame's evidence mask at the video's own resolution; the data pipeline then resizes and crops it exactly as the clip
(:class:`~benchmark.data.transforms.ClipTransform`). SSv2 has no action-window annotation, so the window is the
whole clip (temporal localisation is undefined: NaN, never a made-up number). A clip without boxes gets an empty
mask: its localisation scores are NaN (left out, never scored as misses), and the data set counts such clips.

Set with ``data.ground_truth=something-else:PATH`` (PATH: one annotation file, or a folder whose
``bounding_box_smthsmth*.json`` files are all read).
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from ..errors import DataError
from .ground_truth import GroundTruth

log = logging.getLogger("stabn_bench")

#: the prefix of ``data.ground_truth`` that selects this reader
PREFIX = "something-else:"
#: the names of the distributed annotation files (``bounding_box_smthsmth_part1.json`` ...)
FILE_STEM = "bounding_box_smthsmth"
_FRAME_NAME = re.compile(r"(?:^|/)(\d+)\.(?:jpe?g|png)$", re.IGNORECASE)


def parse_spec(spec: Optional[str]) -> Optional[Path]:
    """The annotation path of ``data.ground_truth`` (``something-else:PATH``), or None when unset."""
    if not spec:
        return None
    if not spec.startswith(PREFIX) or not spec[len(PREFIX):]:
        raise DataError(f"data.ground_truth = {spec!r}; expected '{PREFIX}PATH' (a Something-Else annotation file or "
                        "a folder of them)")
    return Path(spec[len(PREFIX):])


def annotation_files(path: str | os.PathLike) -> list[Path]:
    """``path`` itself (a file) or the sorted ``bounding_box_smthsmth*.json`` files of the folder ``path``."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(path.glob(f"{FILE_STEM}*.json"))
        if files:
            return files
        raise DataError(f"Something-Else folder '{path}' holds no {FILE_STEM}*.json annotation files")
    raise DataError(f"Something-Else annotations '{path}' do not exist")


def read_annotations(path: str | os.PathLike, video_ids: Optional[Iterable[str]] = None) -> dict[str, list[dict]]:
    """Video id -> per-frame annotations, from one file or a folder of files; only ``video_ids`` are kept (the
    full files are large) when given."""
    wanted = None if video_ids is None else {str(v) for v in video_ids}
    out: dict[str, list[dict]] = {}
    for file in annotation_files(path):
        try:
            with file.open() as handle:
                data = json.load(handle)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DataError(f"Something-Else file '{file}' cannot be read as JSON: {err}") from None
        if not isinstance(data, dict):
            raise DataError(f"Something-Else file '{file}' must hold an object mapping video ids to frame lists")
        for video_id, frames in data.items():
            if wanted is not None and str(video_id) not in wanted:
                continue
            if not isinstance(frames, list):
                raise DataError(f"Something-Else file '{file}': video {video_id} must map to a list of frames")
            out[str(video_id)] = frames
    return out


def frame_number(name: str) -> int:
    """0-based frame index of a per-frame annotation's ``name`` (``"2/0001.jpg"`` -> 0)."""
    match = _FRAME_NAME.search(str(name))
    if match is None:
        raise DataError(f"Something-Else frame name {name!r} does not end in '<number>.jpg'")
    return int(match.group(1)) - 1


def evidence_from_boxes(frames: list[dict], num_frames: int, height: int, width: int) -> np.ndarray:
    """(num_frames, height, width) bool: per frame, the union of its boxes (hands and objects).

    A box covers the pixels whose centres lie inside it: columns ``ceil(x1 - 0.5) .. floor(x2 - 0.5)`` (rows alike),
    clipped to the frame; a frame number beyond the video is ignored.
    """
    mask = np.zeros((num_frames, height, width), dtype=bool)
    for frame in frames:
        index = frame_number(frame.get("name", ""))
        if not 0 <= index < num_frames:
            continue
        for label in frame.get("labels") or []:
            box = label.get("box2d") if isinstance(label, dict) else None
            if not isinstance(box, dict):
                continue
            try:
                x1, x2, y1, y2 = (float(box[k]) for k in ("x1", "x2", "y1", "y2"))
            except (KeyError, TypeError, ValueError):
                continue
            x1, x2 = min(x1, x2), max(x1, x2)
            y1, y2 = min(y1, y2), max(y1, y2)
            left, right = max(math.ceil(x1 - 0.5), 0), min(math.floor(x2 - 0.5), width - 1)
            top, bottom = max(math.ceil(y1 - 0.5), 0), min(math.floor(y2 - 0.5), height - 1)
            if left <= right and top <= bottom:
                mask[index, top:bottom + 1, left:right + 1] = True
    return mask


class SomethingElseGroundTruth:
    """Ground truth of SSv2 clips from Something-Else boxes (callable: ``(clip id, frames, height, width) ->
    GroundTruth``); ``missing`` lists the clips asked for that have no boxes."""

    def __init__(self, annotations: dict[str, list[dict]], source: str = ""):
        self.annotations = annotations
        self.source = source
        self.missing: set[str] = set()

    @classmethod
    def from_spec(cls, spec: str, video_ids: Optional[Iterable[str]] = None) -> "SomethingElseGroundTruth":
        path = parse_spec(spec)
        if path is None:
            raise DataError(f"data.ground_truth = {spec!r}; expected '{PREFIX}PATH' (a Something-Else annotation "
                            "file or a folder of them)")
        ids = None if video_ids is None else list(video_ids)
        annotations = read_annotations(path, ids)
        truth = cls(annotations, str(path))
        if ids is not None:
            absent = sorted(set(map(str, ids)) - set(annotations))
            if absent:
                log.warning("Something-Else: %d of %d clips have no boxes in %s; they are left out of localisation",
                            len(absent), len(ids), path)
        return truth

    def has_boxes(self, clip_id: str) -> bool:
        return any(frame.get("labels") for frame in self.annotations.get(str(clip_id), []))

    def __call__(self, clip_id: str, num_frames: int, height: int, width: int) -> GroundTruth:
        frames = self.annotations.get(str(clip_id), [])
        evidence = evidence_from_boxes(frames, num_frames, height, width)
        if not evidence.any():
            self.missing.add(str(clip_id))
        return GroundTruth(evidence, 0, num_frames)
