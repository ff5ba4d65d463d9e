"""Video clip data sets: SSv2 layout (also the synthetic data), ``path,label`` CSV files and class folders.

Every data set is a :class:`VideoClipDataset` over a list of :class:`~benchmark.data.ssv2.ClipRecord`. An item is
``{"clip": (C, T, H, W) float32, "label": int, "clip_id": str}`` plus, where the data set has ground truth,
``"evidence"`` (T, H, W) float32 in {0, 1} and ``"window"`` (T,) float32. A clip that cannot be decoded comes
back as a :class:`DecodeFailure` (or raises, when ``skip_undecodable`` is off); ``collate_clips`` drops it
and lists it in the batch.
"""
from __future__ import annotations

import csv
import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union, cast

import numpy as np
import torch
from torch.utils.data import Dataset

from ..config.schema import DataConfig
from ..errors import DataError
from . import arrow_of_time, ssv2
from .ground_truth import GROUND_TRUTH_DIR, GroundTruth, read_ground_truth
from .sampling import sample_indices
from .ssv2 import ClipRecord
from .symmetry import SymmetryAugment
from .transforms import ClipTransform
from .video_io import VIDEO_EXTENSIONS, VideoDecodeError, VideoFile


@dataclass(frozen=True)
class DecodeFailure:
    """Stands in for an item whose video could not be used; ``str()`` gives ``"path: reason"``."""

    clip_id: str
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


Item = Union[dict, DecodeFailure]


class VideoClipDataset(Dataset):
    """Clips of one split, sampled and transformed per ``DataConfig``.

    Args:
        records: the clips (id, video path, label index; -1 for unlabelled clips).
        classes: label names by index (``.classes``; ``.num_classes`` is their number).
        cfg: frame count, sampling, crop sizes, jitter, flip, decode cache, skip policy.
        train: random sampling offsets, random crop and colour jitter when True; deterministic otherwise.
        ground_truth_dir: folder of ``<clip_id>.npz`` ground truth, or None.
        ground_truth_fn: ``(clip id, frames, height, width) -> GroundTruth`` at the video's own size (e.g.
            :class:`~benchmark.data.something_else.SomethingElseGroundTruth`), used instead of ``ground_truth_dir``.
        augment: a training augmentation that may relabel the clip (:class:`~.symmetry.SymmetryAugment`), applied
            to the sampled frames and evidence before the transform; None: none.
    """

    def __init__(self, records: list[ClipRecord], classes: list[str], cfg: DataConfig, train: bool = False,
                 ground_truth_dir: Optional[Path] = None, name: str = "",
                 ground_truth_fn: Optional[Callable[[str, int, int, int], GroundTruth]] = None,
                 augment: Optional[SymmetryAugment] = None):
        if not records:
            raise DataError(f"data set {name or '(unnamed)'} has no clips")
        self.records = records
        self.classes = list(classes)
        self.cfg = cfg
        self.train = train
        self.ground_truth_dir = ground_truth_dir
        self.ground_truth_fn = ground_truth_fn
        self.name = name
        self.transform = ClipTransform.from_config(cfg, train)
        self.augment = augment if train else None
        self._cache: dict[int, tuple[np.ndarray, Optional[GroundTruth]]] = {}

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def has_ground_truth(self) -> bool:
        return self.ground_truth_dir is not None or self.ground_truth_fn is not None

    @property
    def clip_ids(self) -> list[str]:
        return [r.clip_id for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return (f"VideoClipDataset({self.name!r}, {len(self)} clips, {self.num_classes} classes, "
                f"train={self.train}, ground_truth={self.has_ground_truth})")

    def _ground_truth(self, record: ClipRecord, num_video_frames: int,
                      frame_size: tuple[int, int]) -> Optional[GroundTruth]:
        if self.ground_truth_fn is not None:
            return self.ground_truth_fn(record.clip_id, num_video_frames, *frame_size)
        if self.ground_truth_dir is None:
            return None
        truth = read_ground_truth(self.ground_truth_dir / f"{record.clip_id}.npz")
        if truth.evidence.shape[0] != num_video_frames:
            raise VideoDecodeError(
                record.path, f"has {num_video_frames} frames but its ground truth has {truth.evidence.shape[0]}"
            )
        return truth

    def _sample(self, index: int) -> "SampledClip":
        record = self.records[index]
        cfg = self.cfg
        if cfg.cache_decoded:
            if index not in self._cache:
                frames_all = VideoFile(record.path).read()
                self._cache[index] = (frames_all, self._ground_truth(record, len(frames_all), frames_all.shape[1:3]))
            frames_all, truth = self._cache[index]
            indices = sample_indices(cfg.sampling, len(frames_all), cfg.num_frames, cfg.stride, self.train)
            return SampledClip.take(frames_all[indices], truth, indices)
        video = VideoFile(record.path)
        indices = sample_indices(cfg.sampling, len(video), cfg.num_frames, cfg.stride, self.train)
        frames = video.read(indices)
        return SampledClip.take(frames, self._ground_truth(record, len(video), frames.shape[1:3]), indices)

    def __getitem__(self, index: int) -> Item:
        record = self.records[index]
        try:
            sampled = self._sample(index)
        except VideoDecodeError as err:
            if not self.cfg.skip_undecodable:
                raise
            return DecodeFailure(record.clip_id, err.path, err.problem)
        except DataError as err:
            if not self.cfg.skip_undecodable:
                raise
            return DecodeFailure(record.clip_id, str(record.path), str(err))
        frames, evidence, label = sampled.frames, sampled.evidence, record.label
        if self.augment is not None:
            frames, evidence, label = self.augment(frames, evidence, label)
        out = self.transform(frames, evidence)
        item = {"clip": out["clip"], "label": label, "clip_id": record.clip_id}
        if sampled.window is not None:
            item["evidence"] = out["evidence"]
            item["window"] = torch.from_numpy(sampled.window)
        return item


@dataclass
class SampledClip:
    """The sampled frames (T, H, W, 3) uint8 and, with ground truth, evidence (T, H, W) bool and window (T,)."""

    frames: np.ndarray
    evidence: Optional[np.ndarray] = None
    window: Optional[np.ndarray] = None

    @classmethod
    def take(cls, frames: np.ndarray, truth: Optional[GroundTruth], indices: np.ndarray) -> "SampledClip":
        if truth is None:
            return cls(frames)
        inside = (indices >= truth.start) & (indices < truth.end)
        return cls(frames, truth.evidence[indices], inside.astype(np.float32))


# ----------------------------------------------------------------------------------------------- readers


def ssv2_dataset(root: str | os.PathLike, split: str, cfg: DataConfig, train: bool = False) -> VideoClipDataset:
    """The SSv2 split ``split`` under ``root`` (with ground truth when ``root/ground_truth`` exists)."""
    root = ssv2.check_root(root)
    classes = ssv2.read_labels(root)
    records = ssv2.read_split(root, split, classes)
    if train:
        unlabelled = [r.clip_id for r in records if r.label < 0]
        if unlabelled:
            raise DataError(f"SSv2 split file '{root / ssv2.SPLIT_FILE.format(split=split)}' item id {unlabelled[0]} "
                            f"has no \"template\" ({len(unlabelled)} such items): a training split needs a label "
                            "for every clip")
    truth_dir = root / GROUND_TRUTH_DIR
    boxes = None
    if cfg.ground_truth and not train:  # Something-Else boxes (data.ground_truth=something-else:PATH)
        from .something_else import SomethingElseGroundTruth

        boxes = SomethingElseGroundTruth.from_spec(cfg.ground_truth, [r.clip_id for r in records])
    return VideoClipDataset(records, classes, cfg, train, truth_dir if truth_dir.is_dir() else None,
                            name=f"{root}:{split}", ground_truth_fn=boxes)


def _read_csv(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"path", "label"} <= set(reader.fieldnames):
            raise DataError(f"CSV file '{path}' must have a header with columns 'path,label', got {reader.fieldnames}")
        rows = []
        for line, row in enumerate(reader, start=2):
            if not row["path"] or row["label"] in (None, ""):
                raise DataError(f"CSV file '{path}' line {line} has an empty path or label: {row}")
            rows.append((row["path"].strip(), row["label"].strip()))
    return rows


def _split_names(cfg: DataConfig) -> list[str]:
    return list(dict.fromkeys([cfg.train_split, cfg.val_split, cfg.test_split]))


def csv_dataset(root: str | os.PathLike, split: str, cfg: DataConfig, train: bool = False) -> VideoClipDataset:
    """``root/<split>.csv`` with columns ``path,label`` (paths relative to ``root``).

    Classes: ``root/classes.txt`` (one name per line) when present, else the sorted labels of the training split
    (a label of another split that the training split lacks is then an error naming it: a typo must not become a
    class without training clips), or, with ``data.infer_classes=true``, the sorted labels of all split files.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"CSV data root '{root}' does not exist or is not a folder (expected <root>/<split>.csv)")
    path = root / f"{split}.csv"
    if not path.is_file():
        present = sorted(p.name for p in root.glob("*.csv"))
        raise DataError(f"CSV split file '{path}' does not exist; present: {', '.join(present) or 'none'}")
    rows = _read_csv(path)
    if not rows:
        raise DataError(f"CSV split file '{path}' is empty: split '{split}' has no clips")
    classes_file = root / "classes.txt"
    if classes_file.is_file():
        classes = [line.strip() for line in classes_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        sources = _split_names(cfg) if cfg.infer_classes else [cfg.train_split]
        labels = {label for s in sources if (root / f"{s}.csv").is_file() for _, label in _read_csv(root / f"{s}.csv")}
        if not labels:
            raise DataError(f"CSV data root '{root}' has no classes.txt and no {cfg.train_split}.csv to take the "
                            "classes from; write classes.txt (one class name per line)")
        classes = sorted(labels, key=lambda v: (0, int(v), "") if v.isdigit() else (1, 0, v))
    index = {name: i for i, name in enumerate(classes)}
    records = []
    for clip_path, label in rows:
        if label not in index:
            close = difflib.get_close_matches(label, classes, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            where = (f"'{classes_file}'" if classes_file.is_file()
                     else f"the labels of '{root / (cfg.train_split + '.csv')}'; set data.infer_classes=true to take "
                          "the classes of every split file")
            raise DataError(f"CSV split file '{path}' row '{clip_path}' has unknown label '{label}' "
                            f"({len(classes)} classes in {where}){hint}")
        records.append(ClipRecord(str(Path(clip_path).with_suffix("")), root / clip_path, index[label]))
    return VideoClipDataset(records, classes, cfg, train, name=f"{path}")


def folder_dataset(root: str | os.PathLike, split: str, cfg: DataConfig, train: bool = False) -> VideoClipDataset:
    """``root/<split>/<class>/<video>``; classes are the sorted class folder names of all splits."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"folder data root '{root}' does not exist or is not a folder (expected <root>/<split>/<class>/<video>)")
    split_dir = root / split
    if not split_dir.is_dir():
        present = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise DataError(f"split folder '{split_dir}' does not exist (expected <root>/<split>/<class>/<video>); "
                        f"present: {', '.join(present) or 'none'}")
    classes = sorted({p.name for s in _split_names(cfg) if (root / s).is_dir() for p in (root / s).iterdir() if p.is_dir()})
    records = []
    for label, name in enumerate(classes):
        class_dir = split_dir / name
        if not class_dir.is_dir():
            continue
        for video in sorted(class_dir.iterdir()):
            if video.suffix.lower() in VIDEO_EXTENSIONS:
                records.append(ClipRecord(f"{name}/{video.stem}", video, label))
    if not records:
        raise DataError(f"split folder '{split_dir}' holds no videos ({', '.join(VIDEO_EXTENSIONS)}) in class folders: "
                        f"split '{split}' has no clips")
    return VideoClipDataset(records, classes, cfg, train, name=f"{split_dir}")


class ArrowOfTimeDataset(VideoClipDataset):
    """The arrow-of-time task (:mod:`.arrow_of_time`): every record's frames are fixed, in the order shown."""

    def __init__(self, records, classes, cfg: DataConfig, train: bool = False, name: str = ""):
        super().__init__(records, classes, cfg, train, None, name)
        self._videos: dict = {}
        #: label after time reversal, per label (-1: no class); ``stabn-bench evaluate --reverse`` scores against it
        self.reversal_labels = arrow_of_time.reversal_label_map(len(classes) > 2)

    def _sample(self, index: int) -> "SampledClip":
        record = cast(arrow_of_time.ArrowClipRecord, self.records[index])  # this data set's records
        return SampledClip(arrow_of_time.read_clip(record, self._videos if self.cfg.cache_decoded else None))


def arrow_of_time_dataset(cfg: DataConfig, split: str, train: bool = False) -> VideoClipDataset:
    """The arrow-of-time task on the videos under ``cfg.root``: split ``split`` of the source videos."""
    records, classes = arrow_of_time.arrow_of_time_records(cfg, split)
    return ArrowOfTimeDataset(records, classes, cfg, train, name=f"{cfg.root}:arrow-of-time:{split}")


def synthetic_symmetry_augment(root: Path, classes: list[str], data_cfg: DataConfig) -> SymmetryAugment:
    """The frame symmetries of the synthetic data set under ``root`` with its classes relabelled (the class keys
    come from the generator's manifest); cyclic shifts too in the ``window`` design, whose objects move on the torus."""
    from .actions import ACTIONS
    from .synthetic import read_manifest

    key_of = {ACTIONS[entry["key"]].label: entry["key"] for entry in read_manifest(root)["classes"] if entry["key"] in ACTIONS}
    unknown = [name for name in classes if name not in key_of]
    if unknown:
        raise DataError(f"synthetic data set '{root}': class {unknown[0]!r} is not in its manifest; regenerate it")
    synth = data_cfg.synthetic
    try:
        return SymmetryAugment([key_of[name] for name in classes], square=synth.height == synth.width,
                               torus=synth.design == "window")
    except ValueError as err:
        raise DataError(f"config key 'data.symmetry_augment': {err}") from None


def build_dataset(data_cfg: DataConfig, split: str, train: bool = False, progress: bool = True) -> VideoClipDataset:
    """The data set of ``split`` for ``data_cfg.source`` (synthetic data is generated and cached on first use)."""
    from .synthetic import ensure_synthetic

    if data_cfg.source == "synthetic":
        root = ensure_synthetic(data_cfg.root, data_cfg.synthetic, progress=progress)
        dataset = ssv2_dataset(root, split, data_cfg, train)
        if train and data_cfg.symmetry_augment:
            dataset.augment = synthetic_symmetry_augment(root, dataset.classes, data_cfg)
        return dataset
    if data_cfg.source == "ssv2":
        return ssv2_dataset(data_cfg.root, split, data_cfg, train)
    if data_cfg.source == "csv":
        return csv_dataset(data_cfg.root, split, data_cfg, train)
    if data_cfg.source == "folders":
        return folder_dataset(data_cfg.root, split, data_cfg, train)
    if data_cfg.source == "arrow-of-time":
        return arrow_of_time_dataset(data_cfg, split, train)
    raise DataError(f"unknown data source {data_cfg.source!r}; valid: synthetic, ssv2, csv, folders, arrow-of-time")
