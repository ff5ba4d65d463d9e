"""Results of several training seeds: per-seed means, then the mean and spread across seeds.

A run trains every model once per seed (``train.seeds``); ``scores.csv``, ``curves.csv``, ``temporal.csv`` and
``errors.csv`` then carry a trailing ``seed`` column, ``accuracy_seeds.csv`` holds one accuracy row per model, head
and seed, and ``accuracy.csv`` the mean over seeds. Summaries average over clips within a seed first, then over
seeds, so every seed weighs the same; the spread shown is the standard deviation across seeds of the per-seed
means (ddof 1). Tables without a ``seed`` column are one seed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError

from stabn_bench.metrics.statistics import bootstrap_ci

from .tables import SUMMARY_COLUMNS

#: columns appended to summary.csv: the spread of the per-seed means across seeds
SEED_SUMMARY_COLUMNS = ["seed_sd", "seed_min", "seed_max", "n_seeds"]
#: columns appended to accuracy.csv (the documented ``model, head, top1, top5, n_clips`` stay first)
ACCURACY_SEED_COLUMNS = ["top1_sd", "top5_sd", "top1_min", "top1_max", "n_seeds"]
#: columns of attention_alignment.csv
ALIGNMENT_COLUMNS = ["model", "attention", "reference", "seed", "spearman", "spearman_sd", "positive_share", "n_clips"]


def n_seeds(table: pd.DataFrame) -> int:
    """How many seeds a result table holds (1 without a ``seed`` column)."""
    if "seed" not in table.columns or table.empty:
        return 1
    return max(int(table["seed"].nunique()), 1)


def _spread(values: np.ndarray) -> tuple[float, float, float, int]:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return np.nan, np.nan, np.nan, 0
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else np.nan
    return sd, float(values.min()), float(values.max()), len(values)


def seed_summary_table(scores: pd.DataFrame, confidence: float = 0.95, n_resamples: int = 1000,
                       seed: int = 0) -> pd.DataFrame:
    """summary.csv for any number of seeds: ``model, method, metric, mean, ci_low, ci_high, n`` + SEED_SUMMARY_COLUMNS.

    ``mean``: the mean over seeds of each seed's mean over clips. ``ci_low, ci_high``: bootstrap CI over clips of
    the per-clip values averaged over the seeds (with one seed: the usual CI over clips). ``n``: clips.
    ``seed_sd, seed_min, seed_max``: spread of the per-seed means; ``n_seeds``: seeds with a value.
    """
    data = scores if "seed" in scores.columns else scores.assign(seed=0)
    records = []
    for (model, method, metric), group in data.groupby(["model", "method", "metric"], sort=True):
        group = group.dropna(subset=["value"])
        if group.empty:
            records.append((model, method, metric, np.nan, np.nan, np.nan, 0, np.nan, np.nan, np.nan, 0))
            continue
        per_seed = group.groupby("seed")["value"].mean().to_numpy(float)
        # one seed: the values in table order (the same resamples, hence the same CI, as summary_table)
        per_clip = (group["value"] if len(per_seed) == 1 else group.groupby("clip_id")["value"].mean()).to_numpy(float)
        _, low, high = bootstrap_ci(per_clip, confidence=confidence, n_resamples=n_resamples, seed=seed)
        records.append((model, method, metric, float(per_seed.mean()), low, high, len(per_clip), *_spread(per_seed)))
    return pd.DataFrame.from_records(records, columns=SUMMARY_COLUMNS + SEED_SUMMARY_COLUMNS)


def spread_view(summary: pd.DataFrame) -> pd.DataFrame:
    """For display: where a row has 2+ seeds, ``ci_low, ci_high`` become mean ∓ SD across seeds, so a table cell
    ``mean ± x`` shows the seed SD; rows of one seed keep their bootstrap CI over clips."""
    if "n_seeds" not in summary.columns:
        return summary
    view = summary.copy()
    several = (view["n_seeds"] > 1) & np.isfinite(view["seed_sd"])
    view.loc[several, "ci_low"] = view.loc[several, "mean"] - view.loc[several, "seed_sd"]
    view.loc[several, "ci_high"] = view.loc[several, "mean"] + view.loc[several, "seed_sd"]
    return view


def summary_seeds(summary: pd.DataFrame) -> int:
    """The largest number of seeds behind a row of a summary table (1 for a summary without seed columns)."""
    if "n_seeds" not in summary.columns or summary.empty:
        return 1
    return max(int(summary["n_seeds"].max()), 1)


def aggregate_accuracy(per_seed: pd.DataFrame) -> pd.DataFrame:
    """accuracy.csv from accuracy_seeds.csv: one row per model and head, means over seeds, then
    ACCURACY_SEED_COLUMNS (SD across seeds with ddof 1, NaN for one seed; min / max of top-1; seed count)."""
    records = []
    for (model, head), group in per_seed.groupby(["model", "head"], sort=True):
        top1, top5 = group["top1"].to_numpy(float), group["top5"].to_numpy(float)
        sd1, min1, max1, n = _spread(top1)
        records.append((model, head, float(top1.mean()), float(top5.mean()), int(group["n_clips"].max()),
                        sd1, _spread(top5)[0], min1, max1, n))
    return pd.DataFrame.from_records(records, columns=["model", "head", "top1", "top5", "n_clips", *ACCURACY_SEED_COLUMNS])


def alignment_rows(model: str, attention: str, reference: str, seed: int, values: np.ndarray) -> dict:
    """One row of attention_alignment.csv from the per-clip correlations of one model, seed and attention."""
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    return {
        "model": model, "attention": attention, "reference": reference, "seed": int(seed),
        "spearman": float(finite.mean()) if len(finite) else np.nan,
        "spearman_sd": float(finite.std(ddof=1)) if len(finite) > 1 else np.nan,
        "positive_share": float((finite > 0).mean()) if len(finite) else np.nan,
        "n_clips": len(finite),
    }


def with_seed_in_clip_id(table: pd.DataFrame) -> pd.DataFrame:
    """For figures that treat each ``clip_id`` as one sample: ``clip_id`` becomes ``<clip_id>@<seed>`` when the
    table holds several seeds, so a curve of one model per seed stays one sample (tables of one seed unchanged)."""
    if n_seeds(table) < 2:
        return table
    return table.assign(clip_id=table["clip_id"].astype(str) + "@" + table["seed"].astype(str))


def read_seed_table(run_dir: str | Path, stem: str) -> pd.DataFrame | None:
    """``<run_dir>/<stem>.csv`` (``accuracy_seeds``, ``attention_alignment``), or None when the run has none."""
    path = Path(run_dir) / f"{stem}.csv"
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path, dtype={"model": str, "head": str, "attention": str, "reference": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot be read as CSV ({err})") from err
