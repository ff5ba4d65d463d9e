"""Metric agreement: do two metrics rank the methods the same way? Pure functions over tables.

LATEC (Klein et al., NeurIPS 2024 Datasets & Benchmarks) found that explanation metrics often disagree on the
ranking of methods, so a benchmark should show how far they agree. Per model, every method gets its mean per
metric (over clips, and seeds where the clip ids carry them); the means are oriented so that larger is better
(the catalog's direction), and every pair of metrics gets Kendall's tau-b between the two orderings of the
methods (``scipy.stats.kendalltau``, ties counted as ties): +1 = the same ranking, -1 = reversed, 0 = unrelated.
Only the methods both metrics scored count; controls and oracles (references, never ranked) are left out by the
caller.

Output columns (:data:`AGREEMENT_COLUMNS`): ``model, metric_a, metric_b, kendall_tau, p_value, n_methods``.
"""
from __future__ import annotations

import itertools
import warnings
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .catalog import METRICS, agreement_metrics

AGREEMENT_COLUMNS = ["model", "metric_a", "metric_b", "kendall_tau", "p_value", "n_methods"]

#: |tau| at or above this is called agreement (tau >= ) or contradiction (tau <= -) in the summary
STRONG_TAU = 0.6


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Kendall's tau-b and its two-sided p-value between two score vectors over the same methods (NaN pairs
    dropped); NaN, NaN with fewer than 3 methods or a constant vector."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.kendalltau(x, y)
    return float(result.statistic), float(result.pvalue)


def oriented_means(scores: pd.DataFrame, model: str, metrics: Sequence[str],
                   directions: Optional[Mapping[str, bool]] = None, exclude: Sequence[str] = ()) -> pd.DataFrame:
    """(methods × metrics) mean per method, negated for lower-is-better metrics (larger = better everywhere).

    Args:
        scores: ``model, method, metric, clip_id, value``.
        directions: metric -> higher_is_better (default: the catalog's).
        exclude: methods left out (controls, oracles, the model-level ``-``).
    """
    rows = scores[(scores["model"] == model) & scores["metric"].isin(metrics) & ~scores["method"].isin(exclude)]
    means = rows.pivot_table(index="method", columns="metric", values="value", aggfunc="mean")
    for metric in means.columns:
        higher = (directions or {}).get(metric, METRICS[metric].higher_is_better if metric in METRICS else True)
        if not higher:
            means[metric] = -means[metric]
    return means[[m for m in metrics if m in means.columns]]


def metric_agreement(scores: pd.DataFrame, metrics: Optional[Sequence[str]] = None,
                     directions: Optional[Mapping[str, bool]] = None, exclude: Sequence[str] = ("-",)) -> pd.DataFrame:
    """Kendall tau between the method rankings of every pair of metrics, per model (:data:`AGREEMENT_COLUMNS`).

    Args:
        metrics: the metrics to compare (default: those of :func:`~stabn_bench.metrics.catalog.agreement_metrics`,
            the metrics registered with ``agreement=True``, that the scores hold).
    """
    wanted = list(metrics) if metrics is not None else agreement_metrics()
    records = []
    for model in sorted(scores["model"].unique()):
        means = oriented_means(scores, model, wanted, directions, exclude)
        for a, b in itertools.combinations(list(means.columns), 2):
            pair = means[[a, b]].dropna()
            tau, p = kendall_tau(pair[a].to_numpy(), pair[b].to_numpy())
            records.append((model, a, b, tau, p, len(pair)))
    return pd.DataFrame.from_records(records, columns=AGREEMENT_COLUMNS)


def agreement_matrix(agreement: pd.DataFrame, model: str) -> pd.DataFrame:
    """(metrics × metrics) symmetric tau of one model, 1 on the diagonal, metrics in the table's order."""
    rows = agreement[agreement["model"] == model]
    names = list(dict.fromkeys([*rows["metric_a"], *rows["metric_b"]]))
    matrix = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for r in rows.itertuples(index=False):
        matrix.loc[r.metric_a, r.metric_b] = matrix.loc[r.metric_b, r.metric_a] = r.kendall_tau
    return matrix


def strong_pairs(agreement: pd.DataFrame, model: str, threshold: float = STRONG_TAU) -> tuple[list, list]:
    """``(agree, contradict)``: the (metric_a, metric_b, tau) pairs of ``model`` with tau >= threshold and
    tau <= -threshold, strongest first."""
    rows = agreement[(agreement["model"] == model) & np.isfinite(agreement["kendall_tau"].astype(float))]
    agree = rows[rows["kendall_tau"] >= threshold].sort_values("kendall_tau", ascending=False)
    contradict = rows[rows["kendall_tau"] <= -threshold].sort_values("kendall_tau")
    as_list = lambda t: [(r.metric_a, r.metric_b, float(r.kendall_tau)) for r in t.itertuples(index=False)]  # noqa: E731
    return as_list(agree), as_list(contradict)
