"""Differences between two runs: scores (with CIs and a paired test on shared clips), accuracy and config keys."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from stabn_bench.metrics.statistics import higher_is_better

from .files import Results, load_results
from .summary import ReportSettings
from .seeds import seed_summary_table
from .tables import SUMMARY_COLUMNS, Cell, Table, format_number, metric_header, to_markdown, to_text

KEYS = ["model", "method", "metric"]
ALPHA = 0.05


@dataclass
class Comparison:
    """``scores``: per model × method × metric ``mean_a, ci_low_a, ci_high_a, n_a, mean_b, ..., diff`` (B - A),
    ``cis_overlap``, ``n_shared``, ``p_value`` (Wilcoxon on shared clips), ``verdict`` (``B better`` / ``A better`` /
    ``no clear difference`` / ``only in A`` / ``only in B``). ``accuracy``: per model × head top-1 / top-5 in A, B and
    the difference. ``config``: flattened keys whose values differ (``key, a, b``)."""

    name_a: str
    name_b: str
    scores: pd.DataFrame
    accuracy: pd.DataFrame
    config: pd.DataFrame


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists stay values."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def config_differences(a: dict, b: dict) -> pd.DataFrame:
    fa, fb = flatten(a), flatten(b)
    missing = "(absent)"
    rows = [(k, fa.get(k, missing), fb.get(k, missing)) for k in sorted(set(fa) | set(fb))
            if fa.get(k, missing) != fb.get(k, missing)]
    return pd.DataFrame(rows, columns=["key", "a", "b"])


def _paired_p(scores_a: pd.DataFrame, scores_b: pd.DataFrame) -> pd.DataFrame:
    """Wilcoxon p-value of B vs A per model × method × metric on the clip ids both runs scored."""
    scores_a, scores_b = (_per_clip(s) for s in (scores_a, scores_b))  # several seeds: their mean per clip
    merged = scores_a.merge(scores_b, on=[*KEYS, "clip_id"], suffixes=("_a", "_b")).dropna(subset=["value_a", "value_b"])
    records = []
    for key, group in merged.groupby(KEYS, sort=False):
        x, y = group["value_a"].to_numpy(float), group["value_b"].to_numpy(float)
        p = float(stats.wilcoxon(x, y).pvalue) if len(group) >= 2 and np.any(x != y) else 1.0
        records.append((*key, len(group), p))
    return pd.DataFrame.from_records(records, columns=[*KEYS, "n_shared", "p_value"])


def _per_clip(scores: pd.DataFrame) -> pd.DataFrame:
    """One value per model × method × metric × clip: the mean over training seeds where the table has a seed column."""
    if "seed" not in scores.columns:
        return scores
    return scores.groupby([*KEYS, "clip_id"], sort=False, as_index=False)["value"].mean()


def _verdict(row: pd.Series) -> str:
    if np.isnan(row["mean_a"]):
        return "only in B"
    if np.isnan(row["mean_b"]):
        return "only in A"
    higher = higher_is_better(row["metric"])
    significant = (not row["cis_overlap"]) or (row["n_shared"] >= 2 and row["p_value"] < ALPHA)
    if not significant or row["diff"] == 0:
        return "no clear difference"
    if higher is None:
        return "different"
    return "B better" if (row["diff"] > 0) == higher else "A better"


def compare_runs(run_a: str | Path | Results, run_b: str | Path | Results) -> Comparison:
    """Compare two run folders (or loaded :class:`Results`)."""
    a = run_a if isinstance(run_a, Results) else load_results(run_a)
    b = run_b if isinstance(run_b, Results) else load_results(run_b)
    settings_a, settings_b = ReportSettings.from_config(a.config), ReportSettings.from_config(b.config)
    sa = seed_summary_table(a.scores, settings_a.confidence, settings_a.n_resamples, settings_a.seed)[SUMMARY_COLUMNS]
    sb = seed_summary_table(b.scores, settings_b.confidence, settings_b.n_resamples, settings_b.seed)[SUMMARY_COLUMNS]
    scores = sa.merge(sb, on=KEYS, how="outer", suffixes=("_a", "_b"))
    scores["diff"] = scores["mean_b"] - scores["mean_a"]
    scores["cis_overlap"] = ~((scores["ci_low_b"] > scores["ci_high_a"]) | (scores["ci_low_a"] > scores["ci_high_b"]))
    scores = scores.merge(_paired_p(a.scores, b.scores), on=KEYS, how="left")
    scores["n_shared"] = scores["n_shared"].fillna(0).astype(int)
    scores["verdict"] = scores.apply(_verdict, axis=1) if len(scores) else pd.Series(dtype=str)
    scores = scores.sort_values(KEYS, kind="stable").reset_index(drop=True)

    acc_cols = ["model", "head", "top1", "top5", "n_clips"]
    accuracy = a.accuracy[acc_cols].merge(b.accuracy[acc_cols], on=["model", "head"], how="outer", suffixes=("_a", "_b"))
    accuracy["top1_diff"] = accuracy["top1_b"] - accuracy["top1_a"]
    accuracy["top5_diff"] = accuracy["top5_b"] - accuracy["top5_a"]
    return Comparison(a.name, b.name, scores, accuracy.sort_values(["model", "head"]).reset_index(drop=True),
                      config_differences(a.config, b.config))


def comparison_tables(comparison: Comparison) -> list[Table]:
    """Accuracy, scores and config differences as tables (changes beyond the CIs or the paired test in bold)."""
    tables = []
    if not comparison.accuracy.empty:
        rows = [[Cell(r.model), Cell(r.head),
                 Cell(format_number(r.top1_a)), Cell(format_number(r.top1_b)), Cell(_signed(r.top1_diff)),
                 Cell(format_number(r.top5_a)), Cell(format_number(r.top5_b)), Cell(_signed(r.top5_diff))]
                for r in comparison.accuracy.itertuples(index=False)]
        tables.append(Table(["model", "head", "top-1 A", "top-1 B", "Δ top-1", "top-5 A", "top-5 B", "Δ top-5"], rows,
                            caption="Accuracy (Δ = B - A)"))
    rows = []
    for r in comparison.scores.itertuples(index=False):
        clear = r.verdict in ("A better", "B better", "different")
        p = "–" if r.n_shared < 2 else f"{r.p_value:.3g}"
        rows.append([Cell(r.model), Cell(r.method), Cell(metric_header(r.metric)),
                     Cell(format_number(r.mean_a)), Cell(format_number(r.mean_b)), Cell(_signed(r.diff), clear),
                     Cell("yes" if r.cis_overlap else "no"), Cell(p), Cell(r.verdict, clear)])
    columns = ["model", "method", "metric", "mean A", "mean B", "Δ (B - A)", "CIs overlap", "p (paired)", "verdict"]
    tables.append(Table(columns, rows, caption="Scores"))
    rows = [[Cell(str(r.key)), Cell(str(r.a)), Cell(str(r.b))] for r in comparison.config.itertuples(index=False)]
    tables.append(Table(["key", "A", "B"], rows or [[Cell("(none)"), Cell(""), Cell("")]], caption="Config differences"))
    return tables


def _signed(value: float) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:+.3f}"


def render_comparison(comparison: Comparison, markdown: bool = False) -> str:
    head = f"A = {comparison.name_a}, B = {comparison.name_b}"
    verdicts = comparison.scores["verdict"].value_counts()
    clear = int(sum(verdicts.get(v, 0) for v in ("A better", "B better", "different")))
    line = (f"{clear} of {len(comparison.scores)} scores differ clearly (CIs apart or paired Wilcoxon p < {ALPHA}): "
            f"B better {int(verdicts.get('B better', 0))}, A better {int(verdicts.get('A better', 0))}.")
    tables = comparison_tables(comparison)
    if markdown:
        return f"# Comparison: {head}\n\n{line}\n\n" + "\n\n".join(to_markdown(t) for t in tables) + "\n"
    return f"Comparison: {head}\n{line}\n\n" + "\n\n".join(to_text(t) for t in tables) + "\n"
