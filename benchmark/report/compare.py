"""Differences between two runs: the score cells both runs have (paired tests on shared clips, Holm-corrected),
accuracy and config keys.

A *cell* is one model × method × metric. Only cells present in both runs are compared; the others are counted.
For each shared cell the per-clip values of the clips both runs scored (several seeds of a clip averaged) are
compared with a two-sided Wilcoxon signed-rank test; the p-values of all compared cells are Holm-adjusted together.
A difference is *clear* when the adjusted p-value is below :data:`ALPHA`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from stabn_bench.metrics.statistics import _wilcoxon_columns, higher_is_better, holm_adjust

from ..errors import StabnBenchError
from .files import Results, load_results
from .summary import ReportSettings
from .seeds import seed_summary_table
from .tables import Cell, Table, format_number, metric_header, to_markdown, to_text

KEYS = ["model", "method", "metric"]
ALPHA = 0.05
TEST = "paired Wilcoxon signed-rank test on shared clips, Holm-corrected over all compared cells"
CLEAR = ("A better", "B better", "different")


@dataclass
class Comparison:
    """``scores``: per shared cell ``mean_a, ci_low_a, ci_high_a, n_a, mean_b, ..., diff`` (B - A on all clips),
    ``cis_overlap`` (True / False; None when a CI is missing), ``n_shared``, ``p_value``, ``p_holm`` (NaN when
    fewer than 2 shared clips), ``verdict`` (``B better`` / ``A better`` / ``different`` (direction unknown) /
    ``no clear difference`` / ``not testable``). ``only_a`` / ``only_b``: cells of one run only.
    ``accuracy``: per model × head in both runs, top-1 / top-5 in A, B and the difference. ``config``: flattened
    keys whose values differ (``key, a, b``)."""

    name_a: str
    name_b: str
    scores: pd.DataFrame
    accuracy: pd.DataFrame
    config: pd.DataFrame
    only_a: int = 0
    only_b: int = 0
    accuracy_only: int = 0


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


def per_clip(scores: pd.DataFrame) -> pd.DataFrame:
    """One value per model × method × metric × clip (seeds and repeats averaged; NaN values dropped)."""
    return scores.dropna(subset=["value"]).groupby([*KEYS, "clip_id"], as_index=False, sort=False)["value"].mean()


def paired_p(scores_a: pd.DataFrame, scores_b: pd.DataFrame) -> pd.DataFrame:
    """``n_shared`` and the Wilcoxon p-value of B vs A per cell on the clips both runs scored (NaN below 2 clips;
    1 when every shared clip has the same value in both runs)."""
    merged = per_clip(scores_a).merge(per_clip(scores_b), on=[*KEYS, "clip_id"], suffixes=("_a", "_b"))
    records = []
    for key, group in merged.groupby(KEYS, sort=False):
        x, y = group[["value_a"]].to_numpy(float), group[["value_b"]].to_numpy(float)
        p = float(_wilcoxon_columns(x, y)[1][0]) if len(group) >= 2 else np.nan
        records.append((*key, len(group), p))
    return pd.DataFrame.from_records(records, columns=[*KEYS, "n_shared", "p_value"])


def _overlap(r: pd.Series):
    values = [r["ci_low_a"], r["ci_high_a"], r["ci_low_b"], r["ci_high_b"]]
    if not all(np.isfinite(values)):
        return None
    return not (r["ci_low_b"] > r["ci_high_a"] or r["ci_low_a"] > r["ci_high_b"])


def _verdict(r: pd.Series) -> str:
    if not np.isfinite(r["p_holm"]) or not np.isfinite(r["diff"]):
        return "not testable"
    if r["p_holm"] >= ALPHA or r["diff"] == 0:
        return "no clear difference"
    higher = higher_is_better(r["metric"])
    if higher is None:
        return "different"
    return "B better" if (r["diff"] > 0) == higher else "A better"


def _select(scores: pd.DataFrame, methods: Sequence[str] | None, metrics: Sequence[str] | None) -> pd.DataFrame:
    if methods is not None:
        scores = scores[scores["method"].isin(methods)]
    if metrics is not None:
        scores = scores[scores["metric"].isin(metrics)]
    return scores


def _check_selection(a: Results, b: Results, methods, metrics) -> None:
    for what, chosen, column in (("method", methods, "method"), ("metric", metrics, "metric")):
        if chosen is None:
            continue
        known = set(a.scores[column].unique()) | set(b.scores[column].unique())
        unknown = sorted(set(chosen) - known)
        if unknown:
            raise StabnBenchError(f"--{what}s: no results for {unknown} in either run; the runs have {sorted(known)}")


def compare_runs(run_a: str | Path | Results, run_b: str | Path | Results, methods: Sequence[str] | None = None,
                 metrics: Sequence[str] | None = None) -> Comparison:
    """Compare two run folders (or loaded :class:`Results`), optionally only some methods / metrics."""
    a = run_a if isinstance(run_a, Results) else load_results(run_a)
    b = run_b if isinstance(run_b, Results) else load_results(run_b)
    _check_selection(a, b, methods, metrics)
    scores_a, scores_b = _select(a.scores, methods, metrics), _select(b.scores, methods, metrics)
    cells_a = set(map(tuple, scores_a[KEYS].drop_duplicates().to_numpy()))
    cells_b = set(map(tuple, scores_b[KEYS].drop_duplicates().to_numpy()))
    shared = cells_a & cells_b

    def only_shared(scores: pd.DataFrame) -> pd.DataFrame:
        keys = pd.MultiIndex.from_frame(scores[KEYS])
        return scores[keys.isin(list(shared))] if shared else scores.iloc[:0]

    scores_a, scores_b = only_shared(scores_a), only_shared(scores_b)
    settings_a = ReportSettings.from_config(a.config, a.run_dir / "config.yaml")
    settings_b = ReportSettings.from_config(b.config, b.run_dir / "config.yaml")
    sa = seed_summary_table(scores_a, settings_a.confidence, settings_a.n_resamples, settings_a.seed)
    sb = seed_summary_table(scores_b, settings_b.confidence, settings_b.n_resamples, settings_b.seed)
    table = sa.merge(sb, on=KEYS, how="inner", suffixes=("_a", "_b"))
    table["diff"] = table["mean_b"] - table["mean_a"]
    table["cis_overlap"] = pd.Series([_overlap(r) for _, r in table.iterrows()], index=table.index, dtype=object)
    table = table.merge(paired_p(scores_a, scores_b), on=KEYS, how="left")
    table["n_shared"] = table["n_shared"].fillna(0).astype(int)
    table["p_holm"] = holm_adjust(table["p_value"].to_numpy(float)) if len(table) else np.array([], float)
    table["verdict"] = [_verdict(r) for _, r in table.iterrows()] if len(table) else pd.Series(dtype=str)
    table = table.sort_values(KEYS, kind="stable").reset_index(drop=True)

    acc_cols = ["model", "head", "top1", "top5", "n_clips"]
    accuracy = a.accuracy[acc_cols].merge(b.accuracy[acc_cols], on=["model", "head"], how="outer",
                                          suffixes=("_a", "_b"), indicator=True)
    accuracy_only = int((accuracy["_merge"] != "both").sum())
    accuracy = accuracy[accuracy["_merge"] == "both"].drop(columns="_merge")
    accuracy["top1_diff"] = accuracy["top1_b"] - accuracy["top1_a"]
    accuracy["top5_diff"] = accuracy["top5_b"] - accuracy["top5_a"]
    return Comparison(a.name, b.name, table, accuracy.sort_values(["model", "head"]).reset_index(drop=True),
                      config_differences(a.config, b.config), len(cells_a - shared), len(cells_b - shared),
                      accuracy_only)


def _signed(value: float) -> str:
    """``+0.123`` / ``-0.123``; ``0.000`` unsigned; ``–`` when missing."""
    if value is None or not np.isfinite(value):
        return "–"
    text = format_number(value)
    return text if text.startswith("-") or float(text) == 0 else f"+{text}"


def _p(value: float) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.3g}"


def comparison_tables(comparison: Comparison, only_clear: bool = False) -> list[Table]:
    """Accuracy, scores (all shared cells, or the clear differences only) and config differences as tables."""
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
        clear = r.verdict in CLEAR
        if only_clear and not clear:
            continue
        overlap = "–" if r.cis_overlap is None else ("yes" if r.cis_overlap else "no")
        rows.append([Cell(r.model), Cell(r.method), Cell(metric_header(r.metric)),
                     Cell(format_number(r.mean_a)), Cell(format_number(r.mean_b)), Cell(_signed(r.diff), clear),
                     Cell(overlap), Cell(str(r.n_shared)), Cell(_p(r.p_holm)), Cell(r.verdict, clear)])
    if rows:
        columns = ["model", "method", "metric", "mean A", "mean B", "Δ (B - A)", "CIs overlap", "shared clips",
                   "p (Holm)", "verdict"]
        caption = "Scores that differ clearly" if only_clear else "Scores (cells both runs have)"
        tables.append(Table(columns, rows, caption=f"{caption}; {TEST}"))
    rows = [[Cell(str(r.key)), Cell(str(r.a)), Cell(str(r.b))] for r in comparison.config.itertuples(index=False)]
    tables.append(Table(["key", "A", "B"], rows or [[Cell("(none)"), Cell(""), Cell("")]], caption="Config differences"))
    return tables


def summary_lines(comparison: Comparison) -> list[str]:
    scores = comparison.scores
    verdicts = scores["verdict"].value_counts()
    clear = int(sum(verdicts.get(v, 0) for v in CLEAR))
    lines = [f"{len(scores)} cells (model × method × metric) in both runs; not compared: "
             f"{comparison.only_a} only in A, {comparison.only_b} only in B"
             + (f", {comparison.accuracy_only} accuracy rows in one run only" if comparison.accuracy_only else "") + "."]
    untested = int(verdicts.get("not testable", 0))
    lines.append(f"{clear} of {len(scores)} differ clearly ({TEST}, p < {ALPHA}): "
                 f"B better {int(verdicts.get('B better', 0))}, A better {int(verdicts.get('A better', 0))}"
                 + (f"; {untested} not testable (fewer than 2 shared clips)" if untested else "") + ".")
    return lines


def render_comparison(comparison: Comparison, markdown: bool = False, only_clear: bool = False) -> str:
    """The comparison as text (terminal; ``only_clear``: list only the clear differences) or Markdown (every cell)."""
    head = f"A = {comparison.name_a}, B = {comparison.name_b}"
    lines = summary_lines(comparison)
    tables = comparison_tables(comparison, only_clear=only_clear)
    if markdown:
        return f"# Comparison: {head}\n\n" + "\n\n".join(lines) + "\n\n" + "\n\n".join(map(to_markdown, tables)) + "\n"
    return f"Comparison: {head}\n" + "\n".join(lines) + "\n\n" + "\n\n".join(map(to_text, tables)) + "\n"
