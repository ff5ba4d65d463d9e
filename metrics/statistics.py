"""Statistics over per-clip scores: bootstrap confidence intervals, paired tests between methods, average ranks.

Every function works on plain arrays or on the long ``scores.csv`` table (``model, method, metric, clip_id, value``);
nothing here knows about models or files. Directions (higher / lower is better) come from :mod:`stabn_bench.metrics.catalog`.
"""
from __future__ import annotations

import itertools
import warnings
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from stabn_bench.core import MODEL_LEVEL

from .catalog import METRICS


def higher_is_better(metric: str) -> bool | None:
    """The metric's direction from the catalog; ``None`` for a metric the catalog does not know."""
    info = METRICS.get(metric)
    return None if info is None else info.higher_is_better


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Mean of ``values`` (1-D) and its bootstrap confidence interval: ``(mean, low, high)``.

    BCa interval from :func:`scipy.stats.bootstrap`; where BCa is undefined (all values equal, or a sample so
    lopsided that the acceleration is infinite) the percentile interval is used instead. NaNs are dropped.
    An empty sample gives ``(nan, nan, nan)``; one value (or identical values) gives ``(v, v, v)``.
    """
    mean, low, high = bootstrap_ci_columns(np.asarray(values, dtype=float).reshape(-1, 1), confidence, n_resamples, seed)
    return float(mean[0]), float(low[0]), float(high[0])


def bootstrap_ci_columns(
    matrix: np.ndarray,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column means of ``matrix`` (n_samples, n_columns) with a bootstrap CI per column, each ``(n_columns,)``.

    Resamples whole rows (one row = one clip), so a curve sampled on a common grid gets a band from one call.
    Rows containing NaN are dropped per column.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2:
        raise ValueError(f"expected a (n_samples, n_columns) matrix, got shape {matrix.shape}")
    n_cols = matrix.shape[1]
    mean = np.full(n_cols, np.nan)
    low = np.full(n_cols, np.nan)
    high = np.full(n_cols, np.nan)
    complete = ~np.isnan(matrix).any(axis=1)
    if complete.all():  # the usual case: one vectorised call for every column
        groups = [(np.arange(n_cols), matrix)]
    else:
        groups = [(np.array([j]), matrix[~np.isnan(matrix[:, j]), j : j + 1]) for j in range(n_cols)]
    for cols, data in groups:
        if len(data) == 0:
            continue
        mean[cols] = data.mean(axis=0)
        constant = np.ptp(data, axis=0) == 0
        low[cols[constant]] = high[cols[constant]] = mean[cols[constant]]
        varying = ~constant
        if len(data) < 2 or not varying.any():
            continue
        low_v, high_v = _bootstrap(data[:, varying], confidence, n_resamples, seed)
        low[cols[varying]], high[cols[varying]] = low_v, high_v
    return mean, low, high


def _bootstrap(data: np.ndarray, confidence: float, n_resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """BCa interval of the column means of ``data`` (n, k), percentile where BCa is not finite."""
    intervals = []
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy warns when BCa is degenerate; the fallback handles it
            res = stats.bootstrap(
                (data,), np.mean, n_resamples=n_resamples, confidence_level=confidence,
                method=method, axis=0, vectorized=True, rng=np.random.default_rng(seed),
            )
        intervals.append((np.atleast_1d(res.confidence_interval.low), np.atleast_1d(res.confidence_interval.high)))
    (bca_low, bca_high), (pct_low, pct_high) = intervals
    bad = ~(np.isfinite(bca_low) & np.isfinite(bca_high))
    return np.where(bad, pct_low, bca_low), np.where(bad, pct_high, bca_high)


def holm_adjust(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-Bonferroni step-down adjusted p-values (same order as the input; monotone; capped at 1; NaN kept).

    With m tests sorted ascending p_(1) <= ... <= p_(m): adj_(i) = max_{j<=i} min(1, (m - j + 1) p_(j)).
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = len(valid)
    if m == 0:
        return adjusted
    order = valid[np.argsort(p[valid], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def paired_tests(scores_df: pd.DataFrame, metric: str, model: str, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Wilcoxon signed-rank test for every pair of methods on the clips both scored, Holm-adjusted over the pairs.

    Returns one row per pair: ``method_a, method_b, n, mean_a, mean_b, mean_diff`` (a - b on the shared clips),
    ``statistic, p_value, p_holm, better`` (the method with the better mean by the metric's direction; ``"-"``
    when equal or the direction is unknown). Pairs with fewer than 2 shared clips or no non-zero difference get
    p = 1 (no evidence of a difference).
    """
    rows = scores_df[(scores_df["metric"] == metric) & (scores_df["model"] == model)]
    wide = rows.pivot_table(index="clip_id", columns="method", values="value", aggfunc="mean")
    names = sorted(wide.columns) if methods is None else [m for m in methods if m in wide.columns]
    pairs = list(itertools.combinations(names, 2))
    values = wide[names].to_numpy(dtype=float)
    index = {name: i for i, name in enumerate(names)}
    a_idx = np.array([index[a] for a, _ in pairs], dtype=int)
    b_idx = np.array([index[b] for _, b in pairs], dtype=int)
    if not np.isnan(values).any():  # every method scored every clip: one vectorised test for all pairs
        x, y = values[:, a_idx], values[:, b_idx]
        n = np.full(len(pairs), len(values))
        statistic, p_value = _wilcoxon_columns(x, y)
        mean_a, mean_b = x.mean(axis=0), y.mean(axis=0)
    else:
        n, statistic, p_value, mean_a, mean_b = (np.full(len(pairs), np.nan) for _ in range(5))
        for k, (i, j) in enumerate(zip(a_idx, b_idx)):
            shared = ~np.isnan(values[:, i]) & ~np.isnan(values[:, j])
            x, y = values[shared, i : i + 1], values[shared, j : j + 1]
            n[k] = shared.sum()
            (statistic[k],), (p_value[k],) = _wilcoxon_columns(x, y)
            if n[k]:
                mean_a[k], mean_b[k] = x.mean(), y.mean()
    diff = mean_a - mean_b
    direction = higher_is_better(metric)
    better = []
    for (a, b), d in zip(pairs, diff):
        if direction is None or not np.isfinite(d) or d == 0:
            better.append("-")
        else:
            better.append(a if (d > 0) == direction else b)
    table = pd.DataFrame({
        "method_a": [a for a, _ in pairs], "method_b": [b for _, b in pairs], "n": np.asarray(n, dtype=int),
        "mean_a": mean_a, "mean_b": mean_b, "mean_diff": diff, "statistic": statistic, "p_value": p_value,
        "p_holm": holm_adjust(p_value), "better": better,
    })
    return table


def all_paired_tests(scores_df: pd.DataFrame, exclude_method: str = MODEL_LEVEL) -> pd.DataFrame:
    """:func:`paired_tests` for every model and metric (Holm within each), as one table with ``model, metric`` first.

    Rows whose method is ``exclude_method`` (model-level metrics) are left out.
    """
    rows = scores_df[scores_df["method"] != exclude_method]
    parts = []
    for (model, metric), group in rows.groupby(["model", "metric"], sort=True):
        table = paired_tests(group, metric, model)
        if len(table):
            parts.append(table.assign(model=model, metric=metric))
    columns = ["model", "metric", "method_a", "method_b", "n", "mean_a", "mean_b", "mean_diff", "statistic",
               "p_value", "p_holm", "better"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def wilcoxon_method(d: np.ndarray) -> str:
    """scipy's ``method`` for a Wilcoxon signed-rank test of ``n`` paired differences ``d`` (n,) or (n, k):
    ``exact`` up to 50 pairs (zeros dropped first; tied magnitudes keep their mid-ranks in the statistic), the
    normal approximation above. scipy's own choice for small samples with ties or zeros is a permutation test,
    which takes 0.2 s per pair and dominated reports with hundreds of method pairs (44 s for 200 pairs)."""
    return "exact" if len(d) <= 50 else "approx"


def _wilcoxon_columns(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wilcoxon signed-rank statistic and two-sided p-value per column of paired samples ``x``, ``y`` (n, k).

    Columns with fewer than 2 rows or no non-zero difference get statistic NaN and p = 1.
    """
    k = x.shape[1]
    statistic, p_value = np.full(k, np.nan), np.ones(k)
    d = x - y
    testable = np.any(d != 0, axis=0) & (len(d) >= 2)
    # scipy picks the exact or the normal-approximation p-value from the whole array (zeros or ties anywhere), so
    # columns are tested in two groups to give each pair the p-value a one-pair call would give
    magnitudes = np.sort(np.abs(d), axis=0)
    has_ties = np.any((magnitudes[1:] == magnitudes[:-1]) & (magnitudes[1:] != 0), axis=0)
    irregular = np.any(d == 0, axis=0) | has_ties
    for group in (testable & ~irregular, testable & irregular):
        if group.any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # normal approximation warnings for tiny samples
                res = stats.wilcoxon(x[:, group], y[:, group], zero_method="wilcox", axis=0,
                                     method=wilcoxon_method(x[:, group] - y[:, group]))
            statistic[group] = res.statistic
            p_value[group] = res.pvalue
    return statistic, p_value


def average_ranks(means: pd.DataFrame, directions: Mapping[str, bool] | None = None) -> pd.DataFrame:
    """Rank the methods (rows) within every metric (column) of a table of means; 1 = best, ties share the mean rank.

    ``means``: rows = methods, columns = metrics. ``directions``: metric -> higher_is_better (overrides the
    catalog; columns whose direction is known to neither are left out). Returns the per-metric ranks plus an
    ``average_rank`` column (mean over the metrics a method has a value for), sorted best first.
    """
    ranks = {}
    for metric in means.columns:
        higher = directions[metric] if directions and metric in directions else higher_is_better(metric)
        if higher is None:
            continue
        ranks[metric] = means[metric].rank(ascending=not higher, method="average")
    table = pd.DataFrame(ranks, index=means.index)
    table["average_rank"] = table.mean(axis=1, skipna=True)
    return table.sort_values("average_rank", kind="stable")


def method_means(scores_df: pd.DataFrame, model: str, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean value per method (rows) and metric (columns) of one model: the input of :func:`average_ranks`."""
    rows = scores_df[scores_df["model"] == model]
    if metrics is not None:
        rows = rows[rows["metric"].isin(metrics)]
    return rows.pivot_table(index="method", columns="metric", values="value", aggfunc="mean")
