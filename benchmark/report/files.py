"""The result files of a run folder ``results/<run-name>/``: their columns, writers (atomic) and one reader.

Tables (CSV, one header row; ``clip_id`` is always read as text):

- ``accuracy.csv`` — ``model, head, top1, top5, n_clips``: one row per model and head (docs/design.md section 6).
- ``scores.csv`` — ``model, method, metric, clip_id, value``: one row per value. Model-level metrics (catalog family
  ``model``, e.g. ``shuffle_prediction_change``) use method ``"-"``.
- ``curves.csv`` — ``model, method, metric, clip_id, fraction, score``: ``metric`` is a curve name
  (:data:`metrics.catalog.CURVES`), ``fraction`` the share of the input actually changed (0..1), ``score`` the
  target probability. The random-order reference curves (``deletion_random``, ``frame_insertion_random``, ...) are
  the same for every method of a model and are stored once per model and clip, with method ``"-"``.
- ``temporal.csv`` — ``model, method, clip_id, frame, importance, in_window``: the method's per-frame importance,
  min-max normalised per clip to [0, 1] (a constant importance becomes 0.5), and the ground-truth action window
  (1 inside, 0 outside, empty when the data set has no window). Build rows with :func:`temporal_rows`.
- ``errors.csv`` — ``model, method, clip_id, stage, error``: one row per method / clip that failed (the run goes on).
  ``clip_id`` may be ``"*"`` when a whole batch or method failed.

Overlays (``overlays/<clip_id>.npz``, written by :func:`write_overlay`, a few clips per run), compressed NumPy:

- ``frames``: uint8 (T, H, W, 3), the clip as shown (de-normalised RGB);
- ``evidence``: float16 (T, H, W) ground-truth evidence mask in {0, 1} (absent when unknown);
- ``map/<model>/<method>``: float16 (T, H, W), the method's spatio-temporal map for that model;
- ``meta``: a JSON string (``clip_id`` and anything the runner adds, e.g. ``label``, ``prediction`` per model).

``config.yaml`` and ``provenance.json`` are read as plain dicts (``yaml.safe_load`` / ``json``).
"""
from __future__ import annotations

import hashlib
import json
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from collections import Counter
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import yaml

from stabn_bench.core import MODEL_LEVEL, RESULT_COLUMNS

from ..errors import DataError
from ..runtime import atomic_path
from .plugin_data import read_plugin_data

#: file stem -> required columns, in order
COLUMNS: dict[str, list[str]] = RESULT_COLUMNS
#: columns that must hold numbers (empty cells allowed only where noted in the module docstring)
NUMERIC: dict[str, list[str]] = {
    "accuracy": ["top1", "top5", "n_clips"],
    "scores": ["value"],
    "curves": ["fraction", "score"],
    "temporal": ["frame", "importance", "in_window"],
    "errors": [],
}
#: the method name that marks model-level rows in scores.csv
MODEL_LEVEL_METHOD = MODEL_LEVEL
OVERLAY_DIR = "overlays"
#: file formats the figures can be written in
FIGURE_FORMATS = ("png", "pdf", "svg")
_TEXT_COLUMNS = {"model": str, "head": str, "method": str, "metric": str, "clip_id": str, "stage": str, "error": str}


@dataclass
class Results:
    """Everything a run folder holds that the report needs. Optional tables are empty DataFrames when absent."""

    run_dir: Path
    scores: pd.DataFrame
    accuracy: pd.DataFrame
    curves: pd.DataFrame
    temporal: pd.DataFrame
    errors: pd.DataFrame
    config: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    overlays: list[Path] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.config.get("run_name") or self.run_dir.name)

    @property
    def models(self) -> list[str]:
        return sorted(set(self.scores["model"].unique()) | set(self.accuracy["model"].unique()))

    @property
    def methods(self) -> list[str]:
        names = set(self.scores["method"].unique()) | set(self.curves["method"].unique())
        return sorted((names | set(self.temporal["method"].unique())) - {MODEL_LEVEL_METHOD})


# ---------------------------------------------------------------- writers


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` as CSV (no index) atomically. When the file stem is a known table, its columns are checked."""
    path = Path(path)
    required = COLUMNS.get(path.stem)
    if required is not None:
        missing = [c for c in required if c not in df.columns]
        if missing:
            raise DataError(f"{path.name}: table is missing columns {missing}; need {required}")
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
    return path


def temporal_rows(
    model: str,
    method: str,
    clip_ids: list[str],
    importance: np.ndarray,
    window: np.ndarray | None = None,
) -> pd.DataFrame:
    """Rows of ``temporal.csv`` for one model and method.

    ``importance``: (N, T) per-frame importance (any scale, any sign; array or tensor); min-max normalised per
    clip here. ``window``: (N, T) ground-truth window in {0, 1}, or None when unknown.
    """
    importance = to_numpy(importance).astype(float)
    n, t = importance.shape
    if len(clip_ids) != n:
        raise ValueError(f"temporal_rows: {len(clip_ids)} clip ids for importance of shape {importance.shape}")
    low = importance.min(axis=1, keepdims=True)
    span = importance.max(axis=1, keepdims=True) - low
    normalised = np.where(span > 0, (importance - low) / np.where(span > 0, span, 1.0), 0.5)
    in_window = np.full((n, t), np.nan) if window is None else to_numpy(window).astype(float).reshape(n, t)
    return pd.DataFrame({
        "model": model,
        "method": method,
        "clip_id": np.repeat(np.asarray(clip_ids, dtype=str), t),
        "frame": np.tile(np.arange(t), n),
        "importance": normalised.reshape(-1),
        "in_window": in_window.reshape(-1),
    })


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_numpy(values) -> np.ndarray:
    """NumPy float32 view of an array or a torch tensor (any device / dtype)."""
    if hasattr(values, "detach"):
        values = values.detach().float().cpu().numpy()
    return np.asarray(values, dtype=np.float32)


def clip_to_frames(clip, mean: tuple = IMAGENET_MEAN, std: tuple = IMAGENET_STD) -> np.ndarray:
    """A normalised clip (C, T, H, W) (array or tensor) back to displayable frames (T, H, W, 3) uint8."""
    clip = to_numpy(clip)
    if clip.ndim != 4 or clip.shape[0] != 3:
        raise ValueError(f"clip_to_frames: expected a (3, T, H, W) clip, got shape {clip.shape}")
    rgb = clip * np.asarray(std, np.float32)[:, None, None, None] + np.asarray(mean, np.float32)[:, None, None, None]
    return np.clip(np.rint(rgb.transpose(1, 2, 3, 0) * 255), 0, 255).astype(np.uint8)


def overlay_path(run_dir: str | Path, clip_id: str) -> Path:
    """``<run_dir>/overlays/<clip_id>.npz`` with characters unsafe in file names replaced by ``_``."""
    slug = safe_name(clip_id)
    if len(slug) > MAX_SLUG:  # a file name has at most 255 bytes
        slug = f"{slug[:MAX_SLUG]}-{_short_hash(clip_id)}"
    return Path(run_dir) / OVERLAY_DIR / f"{slug}.npz"


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._") or "clip"


#: longest slug of a name in a file name (the rest of the name is a short hash)
MAX_SLUG = 80


def _short_hash(text: str) -> str:
    return hashlib.sha1(str(text).encode("utf-8", "surrogatepass")).hexdigest()[:8]


def file_stems(names: Iterable[str], reserved: Iterable[str] = ()) -> dict[str, str]:
    """A distinct file-name stem per name: its slug (:func:`safe_name`), plus ``-<short hash of the name>`` when
    another name (or a ``reserved`` stem such as ``main``) has the same slug, or when the slug is cut to
    :data:`MAX_SLUG` characters. ``x/y`` and ``x_y`` therefore never write the same file."""
    names = list(dict.fromkeys(str(n) for n in names))
    slugs = {n: safe_name(n) for n in names}
    counts = Counter(slugs.values())
    taken = set(reserved)
    out = {}
    for name, slug in slugs.items():
        if counts[slug] > 1 or slug in taken or len(slug) > MAX_SLUG:
            slug = f"{slug[:MAX_SLUG]}-{_short_hash(name)}"
        out[name] = slug
    return out


def write_overlay(
    run_dir: str | Path,
    clip_id: str,
    frames: np.ndarray,
    evidence: np.ndarray | None,
    maps: Mapping[tuple[str, str], np.ndarray],
    meta: Mapping | None = None,
) -> Path:
    """Store one clip for the attention-overlay figure (format in the module docstring).

    ``frames``: (T, H, W, 3) uint8, or float in [0, 1] (see :func:`clip_to_frames` for a normalised clip);
    ``evidence``: (T, H, W) or None; ``maps``: {(model, method): (T, H, W)}. Arrays or torch tensors.
    Returns the written path.
    """
    frames = np.asarray(frames) if not hasattr(frames, "detach") else frames.detach().cpu().numpy()
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"write_overlay({clip_id!r}): frames must be (T, H, W, 3), got {frames.shape}")
    if frames.dtype != np.uint8:
        frames = np.clip(np.rint(frames.astype(float) * 255), 0, 255).astype(np.uint8)
    shape = frames.shape[:3]
    arrays: dict[str, np.ndarray] = {"frames": frames}
    if evidence is not None:
        arrays["evidence"] = _check_map(evidence, shape, f"evidence of clip {clip_id!r}")
    for (model, method), values in maps.items():
        if "/" in model or "/" in method:
            raise ValueError(f"write_overlay: model / method names may not contain '/': {model!r}, {method!r}")
        arrays[f"map/{model}/{method}"] = _check_map(values, shape, f"map {model}/{method} of clip {clip_id!r}")
    arrays["meta"] = np.array(json.dumps({"clip_id": str(clip_id), **dict(meta or {})}))
    path = overlay_path(run_dir, clip_id)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub mistypes **kwds
    return path


def _check_map(values: np.ndarray, shape: tuple[int, int, int], what: str) -> np.ndarray:
    values = to_numpy(values)
    if values.shape != shape:
        raise ValueError(f"write_overlay: {what} has shape {values.shape}; frames are (T, H, W) = {shape}")
    return values.astype(np.float16)


@dataclass
class Overlay:
    """One clip of ``overlays/``: frames (T, H, W, 3) uint8, evidence (T, H, W) or None,
    maps {(model, method): (T, H, W) float32}."""

    clip_id: str
    frames: np.ndarray
    evidence: np.ndarray | None
    maps: dict[tuple[str, str], np.ndarray]
    meta: dict


def read_overlay(path: str | Path) -> Overlay:
    """Read one overlay file; anything but the format of :func:`write_overlay` (a truncated or foreign file,
    arrays of the wrong shape or type) is a :class:`DataError` naming the file and what is wrong."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise ValueError("a single array, not an .npz archive")
            meta = json.loads(str(data["meta"])) if "meta" in data.files else {}
            maps = {}
            for key in data.files:
                if key.startswith("map/"):
                    parts = key.split("/", 2)
                    if len(parts) != 3:
                        raise ValueError(f"array {key[:60]!r} is not named map/<model>/<method>")
                    maps[(parts[1], parts[2])] = data[key].astype(np.float32)
            evidence = data["evidence"].astype(np.float32) if "evidence" in data.files else None
            frames = data["frames"]
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        text = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
        raise DataError(f"{path}: not a readable overlay file ({text}); expected an .npz written by "
                        "write_overlay (delete it to draw the report without it)") from None
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or 0 in frames.shape:
        raise DataError(f"{path}: 'frames' is {frames.dtype} of shape {frames.shape}; expected uint8 (T, H, W, 3)")
    shape = frames.shape[:3]
    for what, values in [("evidence", evidence), *((f"map/{m}/{k}", v) for (m, k), v in maps.items())]:
        if values is not None and values.shape != shape:
            raise DataError(f"{path}: '{what[:80]}' has shape {values.shape}; the frames are (T, H, W) = {shape}")
    if not isinstance(meta, dict):
        raise DataError(f"{path}: 'meta' is not a JSON object")
    return Overlay(str(meta.get("clip_id", path.stem)), frames, evidence, maps, meta)


def inside_folder(root: str | Path, target: str | Path) -> Path:
    """``target`` if it resolves (links followed) to a path inside ``root``; else a :class:`DataError`: a results
    folder whose ``figures/`` or ``tables/`` is a link to another folder is never written through."""
    root, target = Path(root), Path(target)
    resolved, base = target.resolve(), root.resolve()
    if resolved != base and base not in resolved.parents:
        raise DataError(f"{target}: leads to {resolved}, outside the results folder {base}; refusing to write "
                        "there (replace the link by a folder)")
    return target


# ---------------------------------------------------------------- readers


def read_table(run_dir: str | Path, stem: str, required: bool = False) -> pd.DataFrame:
    """Read ``<run_dir>/<stem>.csv`` and check its columns; an empty table when absent and optional."""
    run_dir = Path(run_dir)
    path = run_dir / f"{stem}.csv"
    columns = COLUMNS[stem]
    if path.exists():
        try:
            df = pd.read_csv(path, dtype={c: t for c, t in _TEXT_COLUMNS.items() if c in columns}, keep_default_na=False,
                             na_values={c: ["", "nan", "NaN"] for c in NUMERIC[stem]})
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
            text = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
            raise DataError(f"{path}: cannot be parsed as CSV ({text})") from None
        except pd.errors.EmptyDataError:
            df = pd.DataFrame(columns=columns)
    elif required:
        raise DataError(f"{run_dir}: no {stem}.csv; is this a stabn-bench results folder?")
    else:
        return pd.DataFrame({c: pd.Series(dtype=float if c in NUMERIC[stem] else object) for c in columns})
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing}; expected columns {columns}")
    for col in NUMERIC[stem]:
        numbers = pd.to_numeric(df[col], errors="coerce")
        bad = numbers.isna() & df[col].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{path}: column '{col}' row {row + 2} holds {df[col].iloc[row]!r}, not a number")
        df[col] = numbers
    for col in columns:
        if col in _TEXT_COLUMNS:
            df[col] = df[col].astype(str)
    return df


def _read_text_file(path: Path, parse, errors, what: str):
    try:
        return parse(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8") from None
    except errors as err:
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"{path}: not valid {what} ({text[:120]})") from None
    except RecursionError:
        raise DataError(f"{path}: not valid {what} (nested too deeply)") from None


def load_results(run_dir: str | Path) -> Results:
    """Read a run folder. ``scores.csv`` is required; every other table, config and provenance is optional."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: results folder does not exist")
    config: dict = {}
    provenance: dict = {}
    if (run_dir / "config.yaml").exists():
        config = _read_text_file(run_dir / "config.yaml", yaml.safe_load, yaml.YAMLError, "YAML")
    read_plugin_data(run_dir)  # kinds and directions of the run's plug-ins, as data: nothing named here is imported
    if (run_dir / "provenance.json").exists():
        provenance = _read_text_file(run_dir / "provenance.json", json.loads, ValueError, "JSON")
    scores = read_table(run_dir, "scores", required=True)
    if scores.empty:
        raise DataError(f"{run_dir / 'scores.csv'}: holds no rows (empty or a header only); nothing to report. "
                        "Is the run finished? Run it again to complete it")
    return Results(
        run_dir=run_dir,
        scores=scores,
        accuracy=read_table(run_dir, "accuracy"),
        curves=read_table(run_dir, "curves"),
        temporal=read_table(run_dir, "temporal"),
        errors=read_table(run_dir, "errors"),
        config=config if isinstance(config, dict) else {},
        provenance=provenance if isinstance(provenance, dict) else {},
        overlays=sorted((run_dir / OVERLAY_DIR).glob("*.npz")),
    )
