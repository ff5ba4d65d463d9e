"""Per-clip ground truth of the synthetic data set: the evidence mask and the action window.

Stored as ``<dataset>/ground_truth/<clip_id>.npz`` with arrays ``evidence`` (T, H, W) uint8 in {0, 1} (the
target's pixels on every frame where it is visible, inside the action window or not, at the generated
resolution: spatial localisation is scored per frame) and ``window`` (2,) int64 ``[start, end)``, the frames of
the action inside the clip (temporal metrics). The zip entries carry a fixed date, so equal contents give byte-identical files.
"""
from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..runtime import atomic_path

GROUND_TRUTH_DIR = "ground_truth"
_FIXED_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass
class GroundTruth:
    """``evidence`` (T, H, W) bool (the target on every frame it is visible in) and the action window
    ``[start, end)`` in frames of the stored video."""

    evidence: np.ndarray
    start: int
    end: int

    def window_mask(self) -> np.ndarray:
        """(T,) bool: True on the frames inside the action window."""
        frames = np.arange(self.evidence.shape[0])
        return (frames >= self.start) & (frames < self.end)


def ground_truth_path(dataset_dir: str | os.PathLike, clip_id: str) -> Path:
    return Path(dataset_dir) / GROUND_TRUTH_DIR / f"{clip_id}.npz"


def save_ground_truth(path: str | os.PathLike, truth: GroundTruth) -> None:
    """Write ``truth`` as a deterministic .npz (np.load reads it; no time stamps inside)."""
    arrays = {
        "evidence": truth.evidence.astype(np.uint8),
        "window": np.array([truth.start, truth.end], dtype=np.int64),
    }
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue())


def read_ground_truth(path: str | os.PathLike) -> GroundTruth:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"ground-truth file '{path}' does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            evidence = data["evidence"].astype(bool)
            start, end = (int(v) for v in data["window"])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise DataError(f"ground-truth file '{path}' cannot be read (need arrays 'evidence' and 'window'): {err}") from None
    if evidence.ndim != 3 or not 0 <= start <= end <= evidence.shape[0]:
        raise DataError(
            f"ground-truth file '{path}' is inconsistent: evidence shape {evidence.shape}, window [{start}, {end})"
        )
    return GroundTruth(evidence, start, end)


def load_ground_truth(dataset_dir: str | os.PathLike, clip_id: str) -> GroundTruth:
    """The ground truth of clip ``clip_id`` of the synthetic data set in ``dataset_dir``."""
    return read_ground_truth(ground_truth_path(dataset_dir, clip_id))
