"""Metric validity: can a metric tell a good explanation from a bad one on this data? Pure functions over tables.

Every run scores three bounding controls beside the real methods: ``oracle`` (the ground-truth evidence),
``random`` and ``inverse-oracle`` (the evidence inverted). On a metric that measures what it claims, the oracle beats
random and random beats the inverse oracle. Per model and metric this module computes:

- **oracle vs random** and **random vs inverse-oracle**: the share of clips where the first is strictly better
  (by the catalog's direction), a one-sided Wilcoxon signed-rank test in that direction
  (``scipy.stats.wilcoxon``, zero differences dropped) and the matched-pairs rank-biserial correlation as the
  effect size (+1: the first is better on every clip that differs, 0: no tendency, -1: always worse);
- **tie-break spread**: the range, over the tie-break seeds, of a method's mean over clips (the largest over the
  methods rescored with several seeds);
- **split-half reliability**: the Spearman correlation between the method rankings (method means) of two random
  halves of the clips, averaged over several splits (the oracle controls are left out of the ranking), and its
  Spearman-Brown step-up ``2 rho / (1 + rho)`` for the full set of clips;
- **fully deleted probability**: the mean target probability of clips whose every cell was replaced by the
  substrate (the shared end point of the deletion and insertion curves), against chance ``1 / K``.

Families the oracle cannot bound have their own pair of bounding controls (:data:`FAMILY_CONTROLS`, columns
``controls`` and ``control_*``): **complexity** — the oracle (sparse ground truth) must beat ``uniform`` (every voxel
equal); **robustness** — ``centre-prior`` (a map that ignores the input, perfectly stable) must beat ``random``
(redrawn on every call, maximally unstable). The same one-sided test and effect threshold decide; these rows do not
need the oracle / random / inverse-oracle triple.

A metric **passes** (see :class:`ValidityThresholds`) when the oracle beats random and random beats the inverse
oracle, each at one-sided p < ``alpha`` with an effect of at least ``min_effect``; its tie-break spread is at most
``max_tie_spread`` (where measured); and, for metrics scored on substituted inputs, the fully deleted probability is
at most ``max_deleted_vs_chance / K``. Split-half reliability is reported, not required. Status per row:
``pass``, ``fail``, ``unchecked`` (a control is missing, or the direction is unknown) or ``exempt`` (sanity and
model-level metrics, which the oracle controls cannot bound, and the localisation ceilings).

Inputs are the long tables of a run folder: ``scores.csv`` (``model, method, metric, clip_id, value``),
``tie_scores.csv`` (``model, method, metric, clip_id, tie_seed, value``) and ``curves.csv``
(``model, method, metric, clip_id, fraction, score``).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from stabn_bench.core import MODEL_LEVEL

from .catalog import METRICS, ceiling_name, ceilings, granularity_variant, per_granularity
from .statistics import wilcoxon_method

ORACLE = "oracle"
INVERSE_ORACLE = "inverse-oracle"
RANDOM = "random"

#: columns of ``metric_validity.csv``
VALIDITY_COLUMNS = [
    "model", "metric", "higher_is_better", "n_clips", "oracle_mean", "random_mean", "inverse_oracle_mean",
    "oracle_vs_random_share", "oracle_vs_random_p", "oracle_vs_random_effect",
    "random_vs_inverse_share", "random_vs_inverse_p", "random_vs_inverse_effect",
    "tie_spread", "tie_spread_method", "tie_seeds", "split_half_spearman", "split_half_reliability",
    "split_half_methods", "deleted_probability", "chance",
    "controls", "control_high_mean", "control_low_mean", "control_share", "control_p", "control_effect",
    "status", "reasons",
]
#: families the oracle controls cannot bound, and the pair of controls that bounds them instead: (the control that
#: must score better, the one that must score worse), in the metric's own direction
FAMILY_CONTROLS: dict[str, tuple[str, str]] = {
    "complexity": (ORACLE, "uniform"),  # the ground truth is sparse; a uniform map is the least sparse there is
    "robustness": ("centre-prior", RANDOM),  # a map that ignores the input is perfectly stable; one redrawn per call is not
}
#: columns of ``tie_scores.csv``
TIE_COLUMNS = ["model", "method", "metric", "clip_id", "tie_seed", "value"]
STATUSES = ("pass", "fail", "unchecked", "exempt")

#: curve whose fully substituted end point a metric's inputs reach (``None``: the metric substitutes nothing)
_FRAME_METRICS = (
    "frame_deletion_auc", "frame_insertion_auc", "frame_deletion_auc_vs_random", "frame_insertion_auc_vs_random",
    "keep_top_k_accuracy", "keep_top_k_probability",
)


@dataclass(frozen=True)
class ValidityThresholds:
    """When a metric passes (defaults documented in the module docstring and the report).

    Attributes:
        alpha: one-sided significance level of each Wilcoxon test (no correction across metrics: each metric is
            judged on its own, and a correction would make a metric's verdict depend on how many others are run).
        min_effect: smallest rank-biserial correlation in the right direction (0.3 = a medium effect): with many
            clips a tiny but significant advantage of the oracle is not enough.
        max_tie_spread: largest range over tie-break seeds of a method's mean (the AUC invariance the issue asks for).
        max_deleted_vs_chance: the fully deleted probability may be at most this many times chance (1 / K).
    """

    alpha: float = 0.05
    min_effect: float = 0.3
    max_tie_spread: float = 0.005
    max_deleted_vs_chance: float = 2.0


@dataclass(frozen=True)
class PairedComparison:
    """Is ``first`` better than ``second`` on the same clips (metric direction applied)?

    Attributes:
        n: clips with both values finite.
        share_better: share of those clips where ``first`` is strictly better.
        p_value: one-sided Wilcoxon signed-rank p-value for "first is better" (1 when no clip differs).
        effect: matched-pairs rank-biserial correlation, positive when ``first`` is better (NaN when n = 0).
    """

    n: int
    share_better: float
    p_value: float
    effect: float


def rank_biserial(differences: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation of paired differences (zeros dropped): (R+ - R-) / (R+ + R-),
    where R+/R- are the rank sums of |d| over the positive / negative differences. NaN when every d is 0."""
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d) & (d != 0)]
    if len(d) == 0:
        return float("nan")
    ranks = stats.rankdata(np.abs(d))
    return float((ranks[d > 0].sum() - ranks[d < 0].sum()) / ranks.sum())


def compare_paired(first: np.ndarray, second: np.ndarray, higher_is_better: bool) -> PairedComparison:
    """One-sided comparison of two methods' per-clip values (1-D, same clips, NaN pairs dropped)."""
    first, second = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if first.shape != second.shape:
        raise ValueError(f"paired values must have the same shape, got {first.shape} and {second.shape}")
    keep = np.isfinite(first) & np.isfinite(second)
    d = first[keep] - second[keep]
    if not higher_is_better:
        d = -d
    n = len(d)
    if n == 0:
        return PairedComparison(0, float("nan"), 1.0, float("nan"))
    share = float(np.mean(d > 0))
    if not np.any(d != 0):
        return PairedComparison(n, share, 1.0, float("nan"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about the normal approximation for tiny samples
        p_value = float(stats.wilcoxon(d, zero_method="wilcox", alternative="greater",
                                       method=wilcoxon_method(d)).pvalue)
    return PairedComparison(n, share, p_value, rank_biserial(d))


def smallest_p(n: int) -> float:
    """The smallest one-sided exact Wilcoxon p-value n differing clips can give: 2^-n."""
    return 0.5 ** max(int(n), 0)


def split_half_reliability(values: np.ndarray, n_splits: int = 20, seed: int = 0) -> tuple[float, float]:
    """Reliability of the method ranking over clips: ``(mean Spearman rho, Spearman-Brown step-up)``.

    Args:
        values: (n_clips, n_methods) per-clip values (NaN = not scored; ignored in that half's mean).
        n_splits: random halvings of the clips (seeded by ``seed``); rho is averaged over the splits where it is
            defined (both halves rank at least two methods and neither ranking is constant).
    Returns:
        NaN, NaN with fewer than 3 methods or 4 clips.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"values must be (n_clips, n_methods), got shape {values.shape}")
    n_clips, n_methods = values.shape
    if n_methods < 3 or n_clips < 4:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    rhos = []
    for _ in range(n_splits):
        order = rng.permutation(n_clips)
        half = n_clips // 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an all-NaN column gives a NaN mean, dropped below
            a = np.nanmean(values[order[:half]], axis=0)
            b = np.nanmean(values[order[half:]], axis=0)
        both = np.isfinite(a) & np.isfinite(b)
        if both.sum() < 3 or np.ptp(a[both]) == 0 or np.ptp(b[both]) == 0:
            continue
        rhos.append(stats.spearmanr(a[both], b[both]).statistic)
    if not rhos:
        return float("nan"), float("nan")
    rho = float(np.mean(rhos))
    brown = 2 * rho / (1 + rho) if rho > -1 else float("nan")
    return rho, float(brown)


def tie_spread(tie_scores: pd.DataFrame) -> pd.DataFrame:
    """Range over tie-break seeds of each method's mean, and its largest value over methods, per model and metric.

    Args:
        tie_scores: ``model, method, metric, clip_id, tie_seed, value`` (one row per value and seed). A method's
            mean per seed is taken over the clips scored under every seed.
    Returns:
        ``model, metric, tie_spread, tie_spread_method, tie_seeds`` (the method with the largest spread; seeds =
        the fewest seeds of any method of that row). Methods with a single seed are left out.
    """
    columns = ["model", "metric", "tie_spread", "tie_spread_method", "tie_seeds"]
    if tie_scores is None or tie_scores.empty:
        return pd.DataFrame(columns=columns)
    wide = tie_scores.pivot_table(index=["model", "method", "metric", "clip_id"], columns="tie_seed", values="value",
                                  aggfunc="mean")
    rows = []
    for (model, method, metric), group in wide.groupby(level=["model", "method", "metric"], sort=True):
        group = group.dropna(axis=1, how="all")
        complete = group.dropna(axis=0, how="any")
        if group.shape[1] < 2 or complete.empty:
            continue
        means = complete.mean(axis=0).to_numpy()
        rows.append((model, method, metric, float(np.ptp(means)), group.shape[1]))
    if not rows:
        return pd.DataFrame(columns=columns)
    per_method = pd.DataFrame(rows, columns=["model", "method", "metric", "spread", "seeds"])
    out = []
    for (model, metric), group in per_method.groupby(["model", "metric"], sort=True):
        worst = group.loc[group["spread"].idxmax()]
        out.append((model, metric, float(worst["spread"]), str(worst["method"]), int(group["seeds"].min())))
    return pd.DataFrame(out, columns=columns)


def endpoint_curve(metric: str) -> Optional[str]:
    """The curve (``curves.csv`` name) whose fully substituted end point bounds ``metric``, or None.

    Map-curve metrics (deletion / insertion at any granularity) substitute ``metrics.substrate``: curve
    ``deletion``; frame metrics substitute ``metrics.temporal_substrate``: curve ``frame_deletion``.
    """
    for name in per_granularity():
        if metric == name or any(metric == granularity_variant(name, g) for g in ("voxel", "tube", "frame")):
            return "deletion"
    if metric in _FRAME_METRICS:
        return "frame_deletion"
    return None


def deleted_probability(curves: pd.DataFrame, names: Sequence[str] = ("deletion", "frame_deletion")) -> pd.DataFrame:
    """Mean target probability of the fully substituted clips, per model and curve.

    The last point (largest fraction) of every deletion curve is the clip with every cell replaced; it is the
    same for every method of a model, so it is averaged over methods per clip first, then over clips.

    Args:
        curves: ``model, method, metric, clip_id, fraction, score``.
    Returns:
        ``model, curve, deleted_probability, n_clips``.
    """
    columns = ["model", "curve", "deleted_probability", "n_clips"]
    if curves is None or curves.empty:
        return pd.DataFrame(columns=columns)
    rows = curves[curves["metric"].isin(names)]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    last = rows.loc[rows.groupby(["model", "method", "metric", "clip_id"], sort=False)["fraction"].idxmax()]
    last = last[np.isclose(last["fraction"], 1.0)]  # a curve cut short never reached the full deletion
    per_clip = last.groupby(["model", "metric", "clip_id"], sort=True)["score"].mean()
    out = per_clip.groupby(level=["model", "metric"]).agg(["mean", "count"]).reset_index()
    out.columns = columns
    return out


def metric_validity(
    scores: pd.DataFrame,
    tie_scores: Optional[pd.DataFrame] = None,
    deleted: Optional[pd.DataFrame] = None,
    num_classes: Optional[int] = None,
    thresholds: ValidityThresholds = ValidityThresholds(),
    n_splits: int = 20,
    seed: int = 0,
    ranking_exclude: Sequence[str] = (ORACLE, INVERSE_ORACLE),
    directions: Optional[Mapping[str, bool]] = None,
) -> pd.DataFrame:
    """The validity table (:data:`VALIDITY_COLUMNS`), one row per model and method-level metric.

    Args:
        scores: the long scores table; rows with method ``-`` (model-level metrics) are ignored.
        tie_scores: the same metrics rescored under several tie-break seeds (:func:`tie_spread`), or None.
        deleted: :func:`deleted_probability` of the run's curves, or None.
        num_classes: K, for chance = 1 / K (None: the fully deleted check is skipped).
        n_splits, seed: split-half reliability (:func:`split_half_reliability`).
        ranking_exclude: methods left out of the split-half ranking (the oracle controls bound it trivially).
        directions: metric -> higher_is_better (overrides the catalog).
    """
    scores = scores[scores["method"] != MODEL_LEVEL]
    spreads = tie_spread(tie_scores).set_index(["model", "metric"]) if tie_scores is not None else None
    ends = deleted.set_index(["model", "curve"]) if deleted is not None and not deleted.empty else None
    chance = 1.0 / num_classes if num_classes else float("nan")
    ceiling_names = {ceiling_name(name) for name in ceilings()}
    records = []
    for (model, metric), group in scores.groupby(["model", "metric"], sort=True):
        wide = group.pivot_table(index="clip_id", columns="method", values="value", aggfunc="mean")
        info = METRICS.get(metric)
        higher = (directions or {}).get(metric, info.higher_is_better if info else None)
        row: dict[str, Any] = dict.fromkeys(VALIDITY_COLUMNS, float("nan"))
        row.update(model=model, metric=metric, higher_is_better=higher, n_clips=len(wide), tie_spread_method="",
                   chance=chance, reasons="")

        def mean_of(method: str) -> float:
            return float(wide[method].mean()) if method in wide else float("nan")

        row.update(oracle_mean=mean_of(ORACLE), random_mean=mean_of(RANDOM), inverse_oracle_mean=mean_of(INVERSE_ORACLE))
        ranked = [m for m in wide.columns if m not in set(ranking_exclude)]
        row["split_half_methods"] = len(ranked)
        row["split_half_spearman"], row["split_half_reliability"] = split_half_reliability(
            wide[ranked].to_numpy(dtype=float), n_splits, seed)
        if spreads is not None and (model, metric) in spreads.index:
            spread = spreads.loc[(model, metric)]
            row.update(tie_spread=float(spread["tie_spread"]), tie_spread_method=str(spread["tie_spread_method"]),
                       tie_seeds=int(spread["tie_seeds"]))
        curve = endpoint_curve(metric)
        if curve is not None and ends is not None and (model, curve) in ends.index:
            row["deleted_probability"] = float(ends.loc[(model, curve), "deleted_probability"])
        own = FAMILY_CONTROLS.get(info.family) if info is not None else None
        if own is not None:
            row["controls"] = f"{own[0]} > {own[1]}"
            row.update(control_high_mean=mean_of(own[0]), control_low_mean=mean_of(own[1]))
        else:
            row["controls"] = f"{ORACLE} > {RANDOM} > {INVERSE_ORACLE}"
        if own is not None and higher is not None and set(own) <= set(wide.columns):
            result = compare_paired(wide[own[0]].to_numpy(), wide[own[1]].to_numpy(), bool(higher))
            row.update(control_share=result.share_better, control_p=result.p_value, control_effect=result.effect)
            reasons = []
            if not (result.p_value < thresholds.alpha and result.effect >= thresholds.min_effect):
                text = f"{own[0]} not better than {own[1]} (p={result.p_value:.2g}, r={result.effect:+.2f})"
                if smallest_p(result.n) >= thresholds.alpha:
                    text += f"; {result.n} clips cannot reach p<{thresholds.alpha:g}"
                reasons.append(text)
            row.update(status="fail" if reasons else "pass", reasons="; ".join(reasons))
        elif own is not None:
            missing = sorted(set(own) - set(wide.columns))
            row.update(status="unchecked", reasons=f"no scores of {', '.join(missing)}" if missing else "direction unknown")
        elif info is not None and info.family in ("sanity", "model"):
            row.update(status="exempt", reasons="the oracle controls do not depend on the model")
        elif metric in ceiling_names:
            row.update(status="exempt", reasons="a ceiling (a perfect map at the method's resolution), not a score")
        elif higher is None:
            row.update(status="unchecked", reasons="direction unknown")
        elif not {ORACLE, RANDOM, INVERSE_ORACLE} <= set(wide.columns):
            missing = sorted({ORACLE, RANDOM, INVERSE_ORACLE} - set(wide.columns))
            row.update(status="unchecked", reasons=f"no scores of {', '.join(missing)}")
        else:
            reasons = []
            for key, first, second in (("oracle_vs_random", ORACLE, RANDOM),
                                       ("random_vs_inverse", RANDOM, INVERSE_ORACLE)):
                result = compare_paired(wide[first].to_numpy(), wide[second].to_numpy(), bool(higher))
                row.update({f"{key}_share": result.share_better, f"{key}_p": result.p_value,
                            f"{key}_effect": result.effect})
                if not (result.p_value < thresholds.alpha and result.effect >= thresholds.min_effect):
                    text = f"{first} not better than {second} (p={result.p_value:.2g}, r={result.effect:+.2f})"
                    if smallest_p(result.n) >= thresholds.alpha:
                        text += f"; {result.n} clips cannot reach p<{thresholds.alpha:g}"
                    reasons.append(text)
            if np.isfinite(row["tie_spread"]) and row["tie_spread"] > thresholds.max_tie_spread:
                reasons.append(f"tie-break spread {row['tie_spread']:.3g} > {thresholds.max_tie_spread:g} "
                               f"({row['tie_spread_method']})")
            limit = thresholds.max_deleted_vs_chance * chance
            if np.isfinite(row["deleted_probability"]) and np.isfinite(limit) and row["deleted_probability"] > limit:
                reasons.append(f"fully deleted p={row['deleted_probability']:.3f} > "
                               f"{thresholds.max_deleted_vs_chance:g}/K={limit:.3f}")
            row.update(status="fail" if reasons else "pass", reasons="; ".join(reasons))
        if row["status"] == "exempt":
            row["controls"] = ""  # no control bounds it
        records.append(row)
    table = pd.DataFrame.from_records(records, columns=VALIDITY_COLUMNS)
    for column in ("n_clips", "split_half_methods"):
        table[column] = table[column].astype(int)
    return table


def validity_flags(validity: pd.DataFrame) -> dict[tuple[str, str], bool]:
    """``{(model, metric): passed}`` for every checked row (status ``pass`` or ``fail``); unchecked and exempt rows
    are absent. A False entry means: flag the metric (dagger, footnote, no bold) wherever it is shown."""
    if validity is None or validity.empty:
        return {}
    checked = validity[validity["status"].isin(["pass", "fail"])]
    return {(str(r.model), str(r.metric)): r.status == "pass" for r in checked.itertuples(index=False)}


def invalid_metrics(flags: Mapping[tuple[str, str], bool], model: str) -> set[str]:
    """The metrics of ``model`` that failed the check."""
    return {metric for (m, metric), passed in flags.items() if m == model and not passed}
