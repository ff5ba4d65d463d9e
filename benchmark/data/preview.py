"""``stabn-bench data show``: a grid of a few clips per class, frames left to right, the evidence outlined."""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import DataError  # noqa: E402
from ..runtime import atomic_path  # noqa: E402
from . import ssv2  # noqa: E402
from .ground_truth import GROUND_TRUTH_DIR, read_ground_truth  # noqa: E402
from .video_io import VideoFile  # noqa: E402

WINDOW_COLOUR = "#2ca02c"
EVIDENCE_COLOUR = "#00e5ff"


def _labelled_records(root: Path, classes: list[str]) -> list[ssv2.ClipRecord]:
    records = []
    for split in ("train", "validation", "test"):
        if (root / ssv2.SPLIT_FILE.format(split=split)).is_file():
            records += [r for r in ssv2.read_split(root, split, classes) if r.label >= 0]
    if not records:
        raise DataError(f"'{root}' has no labelled clips in its train, validation or test files")
    return sorted(records, key=lambda r: r.clip_id)


def draw_class_grid(dataset_dir: str | os.PathLike, out: str | os.PathLike, clips_per_class: int = 2,
                    max_frames: int = 8) -> Path:
    """Draw ``clips_per_class`` clips of every class of an SSv2-layout data set into the PNG ``out``.

    Rows are clips (class name on the left), columns are up to ``max_frames`` evenly spaced frames; where the
    data set has ground truth, the evidence mask is outlined and frames inside the action window are framed.
    """
    root = ssv2.check_root(dataset_dir)
    classes = ssv2.read_labels(root)
    records = _labelled_records(root, classes)
    chosen = [r for label in range(len(classes)) for r in [r for r in records if r.label == label][:clips_per_class]]
    truth_dir = root / GROUND_TRUTH_DIR
    rows = []
    for record in chosen:
        frames = VideoFile(record.path).read()
        truth = read_ground_truth(truth_dir / f"{record.clip_id}.npz") if truth_dir.is_dir() else None
        shown = np.unique(np.linspace(0, len(frames) - 1, min(max_frames, len(frames))).round().astype(int))
        rows.append((record, frames, truth, shown))
    num_cols = max(len(shown) for *_, shown in rows)
    cell = 1.1
    fig, axes = plt.subplots(len(rows), num_cols, figsize=(num_cols * cell + 2.6, len(rows) * cell + 0.4),
                             squeeze=False)
    for r, (record, frames, truth, shown) in enumerate(rows):
        for c in range(num_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(shown):
                ax.axis("off")
                continue
            t = shown[c]
            ax.imshow(frames[t], interpolation="nearest")
            if truth is not None:
                if truth.evidence[t].any():
                    ax.contour(truth.evidence[t].astype(float), levels=[0.5], colors=EVIDENCE_COLOUR, linewidths=1.0)
                inside = truth.start <= t < truth.end
                for spine in ax.spines.values():
                    spine.set_edgecolor(WINDOW_COLOUR if inside else "#bbbbbb")
                    spine.set_linewidth(2.5 if inside else 0.5)
            if r == 0:
                ax.set_title(f"t={t}", fontsize=7)
        axes[r, 0].set_ylabel(f"{classes[record.label]}\n(id {record.clip_id})", rotation=0, ha="right",
                              va="center", fontsize=7)
    legend = "outline: evidence mask; green frame: action window" if any(t is not None for _, _, t, _ in rows) else ""
    fig.suptitle(f"{root.name}: {clips_per_class} clip(s) per class. {legend}", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return out
