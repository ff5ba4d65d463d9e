"""The metric-validity part of the report: ``metric_validity.csv`` read back, its tables, and the flags every score
table uses (a failed metric gets a dagger and a footnote, and its column is not ranked).

The table is computed by the run (:mod:`stabn_bench.benchmark.pipeline.validity`, math in
:mod:`stabn_bench.metrics.validity`); the report only reads it, so re-drawing an old run never recomputes it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from stabn_bench.metrics.validity import VALIDITY_COLUMNS, ValidityThresholds, invalid_metrics, validity_flags

from ..errors import DataError
from .files import MODEL_LEVEL_METHOD
from .tables import Cell, Table, metric_header, sort_metrics

#: the mark of a failed metric in every table, and its footnote
DAGGER = "†"
FOOTNOTE = (f"{DAGGER} failed the metric-validity check for this model on this data (see 'Metric validity'); "
            "its column is not ranked (no bold, left out of the average ranks).")
#: column of ``summary.csv``: True (passed), False (failed), empty (not checked)
VALID_COLUMN = "valid"

__all__ = ["DAGGER", "FOOTNOTE", "VALID_COLUMN", "invalid_metrics", "read_validity", "thresholds_from_config",
           "threshold_text", "validity_flags", "validity_table", "with_valid_column", "failed_in_summary", "passed_in_summary", "mark"]


def read_validity(run_dir: str | Path) -> pd.DataFrame:
    """``<run_dir>/metric_validity.csv``, or an empty table with its columns when the run has none."""
    path = Path(run_dir) / "metric_validity.csv"
    if not path.is_file():
        return pd.DataFrame(columns=VALIDITY_COLUMNS)
    try:
        strings = ("model", "metric", "status", "reasons", "tie_spread_method", "controls")
        table = pd.read_csv(path, dtype=dict.fromkeys(strings, str), keep_default_na=False,
                            na_values={c: ["", "nan", "NaN"] for c in VALIDITY_COLUMNS if c not in strings})
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        text = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise DataError(f"{path}: cannot be parsed as CSV ({text})") from None
    missing = [c for c in ("model", "metric", "status") if c not in table.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing}; expected columns {VALIDITY_COLUMNS}")
    return table


def thresholds_from_config(config: Mapping, source: str = "config.yaml") -> ValidityThresholds:
    """The thresholds a run used (its ``config.yaml`` as a dict); defaults where absent."""
    metrics = config["metrics"] if isinstance(config.get("metrics"), Mapping) else {}
    section = metrics["validity"] if isinstance(metrics.get("validity"), Mapping) else {}
    defaults = ValidityThresholds()
    ranges = {"alpha": (0.0, 1.0), "min_effect": (-1.0, 1.0), "max_tie_spread": (0.0, 1e6),
              "max_deleted_vs_chance": (0.0, 1e6)}
    values = {}
    for key, (low, high) in ranges.items():
        value = section.get(key, getattr(defaults, key))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise DataError(f"{source}: metrics.validity.{key} = {str(value)[:40]!r}; must be a number in "
                            f"[{low:g}, {high:g}]")
        values[key] = float(value)
    return ValidityThresholds(**values)


def threshold_text(thresholds: ValidityThresholds) -> str:
    return (
        "A metric passes when the oracle beats random and random beats the inverse oracle (one-sided Wilcoxon "
        f"signed-rank p < {thresholds.alpha:g} and matched-pairs rank-biserial effect ≥ {thresholds.min_effect:g}, "
        "direction from the metric catalog), the mean moves by at most "
        f"{thresholds.max_tie_spread:g} across tie-break seeds, and (metrics scored on substituted inputs) a fully "
        f"deleted clip keeps a mean target probability of at most {thresholds.max_deleted_vs_chance:g}/K "
        "(K classes). Complexity and robustness metrics, which the oracle triple cannot bound, are bounded by their "
        "own pair of controls in the same test: the oracle must be sparser than a uniform map, and the centre prior "
        "(which ignores the input) more stable than a random map redrawn on every call. Split-half ρ: Spearman correlation of the method rankings of two random halves of the clips "
        "(mean over splits, oracle controls left out); reported, not required."
    )


def with_valid_column(summary: pd.DataFrame, flags: Mapping[tuple[str, str], bool]) -> pd.DataFrame:
    """``summary`` with :data:`VALID_COLUMN` (True / False / None per model and metric)."""
    out = summary.copy()
    out[VALID_COLUMN] = [flags.get((str(m), str(k))) for m, k in zip(out["model"], out["metric"])]
    return out


def failed_in_summary(summary: pd.DataFrame, model: str | None = None) -> set[str]:
    """Metrics marked failed in a summary table's :data:`VALID_COLUMN` (read back from ``summary.csv`` too)."""
    if VALID_COLUMN not in summary.columns:
        return set()
    rows = summary if model is None else summary[summary["model"] == model]
    failed = rows[rows[VALID_COLUMN].map(lambda v: str(v).strip().lower() in ("false", "0"))]
    return set(failed["metric"].astype(str))


def passed_in_summary(summary: pd.DataFrame, model: str) -> set[str] | None:
    """Metrics of ``model`` marked passed in the summary's :data:`VALID_COLUMN`; None when the summary has no
    verdicts at all (a run without a validity check)."""
    if VALID_COLUMN not in summary.columns:
        return None
    verdicts = summary[VALID_COLUMN].map(lambda v: str(v).strip().lower())
    if not verdicts.isin(["true", "1", "false", "0"]).any():
        return None
    rows = summary[(summary["model"] == model) & verdicts.isin(["true", "1"])]
    return set(rows["metric"].astype(str))


def mark(metric_text: str, failed: bool) -> str:
    return f"{metric_text} {DAGGER}" if failed else metric_text


def _pair(share: float, p: float, effect: float) -> str:
    if not np.isfinite(share):
        return "–"
    effect_text = f", r {effect:+.2f}" if np.isfinite(effect) else ""
    return f"{share:.0%} (p {p:.2g}{effect_text})"


def _number(value: float, fmt: str = "{:.3f}") -> str:
    return fmt.format(value) if value is not None and np.isfinite(value) else "–"


def validity_table(validity: pd.DataFrame, model: str) -> Table | None:
    """Rows = metrics of ``model``: oracle > random, random > inverse oracle (share of clips, p, effect), tie-break
    spread, split-half ρ, fully deleted probability against chance, and the verdict with its reasons."""
    rows = validity[validity["model"] == model]
    if rows.empty:
        return None
    by_metric = rows.set_index("metric")
    cells = []
    for metric in sort_metrics(by_metric.index):
        r = by_metric.loc[metric]
        deleted = r.get("deleted_probability", np.nan)
        chance = r.get("chance", np.nan)
        deleted_text = (f"{deleted:.3f} ({deleted / chance:.1f}×)" if np.isfinite(deleted) and np.isfinite(chance)
                        and chance > 0 else _number(deleted))
        verdict = str(r["status"]) + (f": {r['reasons']}" if str(r.get("reasons", "") or "") else "")
        own = _own_controls(r)
        first = (f"{own}: " + _pair(r["control_share"], r["control_p"], r["control_effect"]) if own
                 else _pair(r["oracle_vs_random_share"], r["oracle_vs_random_p"], r["oracle_vs_random_effect"]))
        cells.append([
            Cell(mark(metric_header(metric), r["status"] == "fail")),
            Cell(first),
            Cell(_pair(r["random_vs_inverse_share"], r["random_vs_inverse_p"], r["random_vs_inverse_effect"])),
            Cell(_number(r["tie_spread"], "{:.4f}")),
            Cell(_number(r["split_half_spearman"], "{:.2f}")),
            Cell(deleted_text),
            Cell(verdict, bool(r["status"] == "pass")),
        ])
    n_clips = rows["n_clips"].max() if "n_clips" in rows else np.nan
    n_clips = int(n_clips) if np.isfinite(n_clips) else 0
    return Table(
        ["metric", "oracle > random", "random > inverse", "tie spread", "split-half ρ", "deleted p (× chance)",
         "verdict"], cells,
        caption=(f"Metric validity of {model} on {n_clips} clips: share of clips where the first control is better "
                 "(one-sided Wilcoxon p, rank-biserial r; complexity and robustness metrics are bounded by their own "
                 "pair of controls, named in the cell), range of the mean over tie-break seeds, split-half "
                 "reliability of the method ranking, mean target probability of fully deleted clips."),
    )


def _own_controls(row) -> str:
    """``"oracle > uniform"`` for a row bounded by its family's own controls, else ``""``."""
    text = row.get("controls", "") if hasattr(row, "get") else ""
    text = "" if text is None or (isinstance(text, float) and not np.isfinite(text)) else str(text)
    return text if text and text.count(">") == 1 else ""


def in_domain_table(summary: pd.DataFrame, model: str, suffix: str = "+indomain") -> Table | None:
    """Plain vs in-domain scores of ``model`` side by side: rows = methods scored on both, two columns per metric
    scored on the fine-tuned model (``<metric>`` and ``<metric> in-domain``); None without a fine-tuned copy."""
    from .groups import method_order
    from .tables import format_estimate

    tuned = summary[summary["model"] == model + suffix]
    plain = summary[summary["model"] == model]
    if tuned.empty or plain.empty:
        return None
    metrics = sort_metrics(set(tuned["metric"]) & set(plain["metric"]))
    methods = method_order(set(tuned["method"]) & set(plain["method"]) - {MODEL_LEVEL_METHOD})
    if not metrics or not methods:
        return None

    def cell(part: pd.DataFrame, method: str, metric: str) -> Cell:
        hit = part[(part["method"] == method) & (part["metric"] == metric)]
        if hit.empty:
            return Cell("–")
        r = hit.iloc[0]
        return Cell(format_estimate(r["mean"], r["ci_low"], r["ci_high"]))

    failed = failed_in_summary(summary, model + suffix)
    columns = ["method"]
    for metric in metrics:
        columns += [metric_header(metric), mark(f"{metric} in-domain", metric in failed)]
    rows = [[Cell(method)] + [c for metric in metrics for c in (cell(plain, method, metric), cell(tuned, method, metric))]
            for method in methods]
    return Table(columns, rows, caption=(
        f"In-domain deletion: {model} and {model}{suffix} (fine-tuned on random tube deletions with the metric's "
        "substrate), mean ± CI half-width on the same clips."))
