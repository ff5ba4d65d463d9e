"""``summary.md`` / ``summary.tex`` and the terminal summary: one list of blocks, rendered as Markdown or LaTeX.

Content: the accuracy table; per model the score tables (one per metric family; rows = methods), the model-level
metrics, average ranks and paired-test highlights (best method vs the others, Wilcoxon with Holm correction);
then notes (clips, confidence level, resamples, errors).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import pandas as pd

from stabn_bench.metrics.catalog import METRICS
from stabn_bench.metrics.statistics import average_ranks, method_means, paired_tests

from .files import MODEL_LEVEL_METHOD, Results
from .groups import method_order
from .tables import (
    Cell, Table, best_mask, estimate_table, format_estimate, format_number, latex_escape, metric_header, sort_metrics,
    split_variant, to_latex, to_markdown, to_text,
)

FAMILIES = ("faithfulness", "temporal", "localisation", "sanity")
#: the score columns of the terminal summary (those present are shown)
HEADLINE_METRICS = (
    "deletion_auc", "insertion_auc", "pointing_game", "energy_pointing_game", "temporal_auroc", "frame_deletion_auc",
)
ALPHA = 0.05
#: shown where a run has no localisation metric at all: its data set has no evidence masks or action windows
NO_GROUND_TRUTH = "no ground truth"


def ground_truth_note(metrics: Sequence[str], wanted: Sequence[str] | None = None) -> str | None:
    """``"pointing_game, ...: no ground truth ..."`` when no localisation metric was scored, else None.

    ``metrics``: the metrics present; ``wanted``: the localisation metrics to name (default: all of the catalog)."""
    if any(metric_family(m) == "localisation" for m in metrics):
        return None
    names = [m for m in (wanted if wanted is not None else METRICS) if metric_family(m) == "localisation"
             and split_variant(m)[1] is None]
    if not names:
        return None
    return f"{', '.join(names)}: {NO_GROUND_TRUTH} (the data set has no evidence masks or action windows)"


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: list[str]


Block = Union[Heading, Paragraph, Bullets, Table]


@dataclass
class ReportSettings:
    """Statistics settings, read from the run's ``config.yaml`` when present."""

    confidence: float = 0.95
    n_resamples: int = 1000
    seed: int = 0
    #: the granularity of the un-suffixed faithfulness metrics (``metrics.granularities[0]``), when known
    granularity: str | None = None

    @classmethod
    def from_config(cls, config: dict) -> "ReportSettings":
        metrics_cfg = config.get("metrics") if isinstance(config.get("metrics"), dict) else {}
        granularities = metrics_cfg.get("granularities") or [None]
        return cls(n_resamples=int(metrics_cfg.get("bootstrap_resamples", 1000)), seed=int(config.get("seed", 0) or 0),
                   granularity=granularities[0] if isinstance(granularities, list) else None)


def metric_family(metric: str) -> str:
    info = METRICS.get(metric)
    return info.family if info else "other"


def method_metrics(scores: pd.DataFrame, metrics: Sequence[str] | None = None) -> list[str]:
    """Metrics scored per method (not model-level), in catalog order, unknown names last."""
    present = set(scores.loc[scores["method"] != MODEL_LEVEL_METHOD, "metric"].unique())
    if metrics is not None:
        present &= set(metrics)
    return sort_metrics(present)


def metric_groups(metrics: Sequence[str]) -> list[tuple[str, str | None, list[str]]]:
    """Split metrics into table groups ``(family, granularity or None, names)``: one per family, and one per extra
    granularity of the faithfulness metrics, so no table grows wider than a family."""
    groups: dict[tuple[str, str | None], list[str]] = {}
    for metric in sort_metrics(metrics):
        groups.setdefault((metric_family(metric), split_variant(metric)[1]), []).append(metric)
    families = (*FAMILIES, "other")
    order = sorted(groups, key=lambda k: (families.index(k[0]) if k[0] in families else len(families), k[1] or ""))
    return [(family, granularity, groups[(family, granularity)]) for family, granularity in order]


def accuracy_table(accuracy: pd.DataFrame) -> Table:
    """Rows = model / head; top-1 and top-5 with the best bold; clip counts."""
    acc = accuracy.sort_values(["model", "head"], kind="stable").reset_index(drop=True)
    bold = best_mask(acc[["top1", "top5"]], directions={"top1": True, "top5": True})
    rows = []
    for i, r in acc.iterrows():
        clips = str(int(r["n_clips"])) if np.isfinite(r["n_clips"]) else "–"
        rows.append([Cell(r["model"]), Cell(r["head"]),
                     Cell(format_number(r["top1"]), bool(bold.loc[i, "top1"])),
                     Cell(format_number(r["top5"]), bool(bold.loc[i, "top5"])), Cell(clips)])
    return Table(["model", "head", "top-1 ↑", "top-5 ↑", "clips"], rows,
                 caption="Top-1 / top-5 accuracy per model and head.")


def model_level_table(summary: pd.DataFrame, model: str) -> Table | None:
    rows = summary[(summary["model"] == model) & (summary["method"] == MODEL_LEVEL_METHOD)]
    if rows.empty:
        return None
    cells = [[Cell(metric_header(r.metric)), Cell(format_estimate(r.mean, r.ci_low, r.ci_high)), Cell(str(r.n))]
             for r in rows.itertuples(index=False)]
    return Table(["metric", "value", "clips"], cells,
                 caption=f"Model-level metrics of {model} (frame-order sensitivity).")


def rank_table(scores: pd.DataFrame, model: str, metrics: Sequence[str], methods: Sequence[str]) -> Table | None:
    """Average rank of each method over the metrics (1 = best), overall and per family."""
    ranks = average_ranks(method_means(scores, model, metrics).reindex(index=list(methods)))
    if ranks.empty or len(methods) < 2:
        return None
    ranked = [m for m in ranks.columns if m != "average_rank"]
    by_family = {f: [m for m in ranked if metric_family(m) == f] for f in (*FAMILIES, "other")}
    by_family = {f: cols for f, cols in by_family.items() if cols} if len({metric_family(m) for m in ranked}) > 1 else {}
    best = ranks["average_rank"].min()
    rows = []
    for method, r in ranks.iterrows():
        cells = [Cell(method), Cell(f"{r['average_rank']:.2f}", bool(np.isclose(r["average_rank"], best)))]
        cells += [Cell(f"{r[cols].mean():.2f}") for cols in by_family.values()]
        rows.append(cells)
    columns = ["method", "average rank"] + [f"{f} rank" for f in by_family]
    plural = "s" if len(ranked) != 1 else ""
    return Table(columns, rows, caption=f"Average rank of each method over {len(ranked)} metric{plural} (1 = best).")


def paired_highlights(scores: pd.DataFrame, model: str, metrics: Sequence[str], methods: Sequence[str]) -> Table | None:
    """Per metric: the best method, the runner-up, their difference and Holm-adjusted Wilcoxon p-value, and how
    many other methods the best one beats at p < 0.05."""
    if len(methods) < 2:
        return None
    rows = []
    all_means = method_means(scores, model, metrics)
    for metric in metrics:
        higher = METRICS[metric].higher_is_better if metric in METRICS else None
        if higher is None:
            continue
        tests = paired_tests(scores, metric, model, methods)
        if tests.empty:
            continue
        means = all_means[metric].reindex(methods).dropna()
        if len(means) < 2:
            continue
        ordered = means.sort_values(ascending=not higher, kind="stable")
        best, second = ordered.index[0], ordered.index[1]
        involving = tests[(tests["method_a"] == best) | (tests["method_b"] == best)]
        wins = involving[(involving["better"] == best) & (involving["p_holm"] < ALPHA)]
        vs_second = involving[(involving["method_a"] == second) | (involving["method_b"] == second)].iloc[0]
        p = vs_second["p_holm"]
        rows.append([Cell(metric_header(metric)), Cell(best), Cell(second),
                     Cell(f"{ordered.iloc[0] - ordered.iloc[1]:+.3f}"), Cell(f"{p:.3g}", bool(p < ALPHA)),
                     Cell(f"{len(wins)}/{len(involving)}")])
    if not rows:
        return None
    return Table(["metric", "best", "runner-up", "Δ", "p (Holm)", "beats"], rows,
                 caption=("Paired Wilcoxon signed-rank tests on shared clips, Holm-adjusted over all method pairs per "
                          f"metric; 'beats' = methods the best one is better than at p < {ALPHA}."))


def build_blocks(results: Results, summary: pd.DataFrame, settings: ReportSettings,
                 methods: Sequence[str] | None = None, metrics: Sequence[str] | None = None) -> list[Block]:
    """The whole summary as blocks (the same for Markdown and LaTeX)."""
    scores = results.scores
    if methods is not None:
        scores = scores[scores["method"].isin([*methods, MODEL_LEVEL_METHOD])]
        summary = summary[summary["method"].isin([*methods, MODEL_LEVEL_METHOD])]
    level = int(settings.confidence * 100)
    blocks: list[Block] = [
        Heading(1, f"stabn-bench results: {results.name}"),
        Paragraph(f"Mean ± half-width of the {level}% bootstrap confidence interval over clips; "
                  "best value per column in bold (↑ higher is better, ↓ lower is better)."),
    ]
    if not results.accuracy.empty:
        blocks += [Heading(2, "Accuracy"), accuracy_table(results.accuracy)]
    metric_names = method_metrics(scores, metrics)
    for model in sorted(set(scores["model"].unique())):
        blocks.append(Heading(2, f"Model: {model}"))
        model_scores = scores[scores["model"] == model]
        model_methods = method_order(set(model_scores["method"].unique()) - {MODEL_LEVEL_METHOD})
        model_metrics = [m for m in metric_names if m in set(model_scores["metric"].unique())]
        for family, granularity, names in metric_groups(model_metrics):
            if not model_methods:
                break
            title = f"{family.capitalize()} metrics"
            if granularity or (family == "faithfulness" and settings.granularity):
                title += f" ({granularity or settings.granularity} granularity)"
            blocks += [Heading(3, title),
                       estimate_table(summary, model, names, model_methods,
                                      caption=f"{title} of {model}: mean ± half-width of the {level}% bootstrap CI; "
                                              "best per column in bold.")]
        gt_note = ground_truth_note(metric_names) if model_methods else None
        if gt_note is not None:
            blocks += [Heading(3, "Localisation metrics"), Paragraph(gt_note)]
        level_table = model_level_table(summary, model)
        if level_table is not None:
            blocks += [Heading(3, "Model-level metrics"), level_table]
        main_metrics = [m for m in model_metrics if split_variant(m)[1] is None]  # one granularity: families weigh alike
        ranks = rank_table(model_scores, model, main_metrics, model_methods)
        if ranks is not None:
            blocks += [Heading(3, "Average ranks"), ranks]
        highlights = paired_highlights(model_scores, model, main_metrics, model_methods)
        if highlights is not None:
            blocks += [Heading(3, "Paired tests"), highlights]
    blocks += [Heading(2, "Notes"), Bullets(notes(results, summary, settings))]
    return blocks


def notes(results: Results, summary: pd.DataFrame, settings: ReportSettings) -> list[str]:
    items = []
    for model, group in summary.groupby("model"):
        n_min, n_max = int(group["n"].min()), int(group["n"].max())
        counts = f"{n_min}" if n_min == n_max else f"{n_min}–{n_max}"
        items.append(f"{model}: {counts} clips per score")
    items.append(f"Confidence intervals: {int(settings.confidence * 100)}% bootstrap (BCa; percentile where BCa is "
                 f"undefined), {settings.n_resamples} resamples, seed {settings.seed}.")
    items.append("Paired tests: Wilcoxon signed-rank (scipy.stats.wilcoxon) on the clips both methods scored, "
                 "Holm-adjusted over all method pairs of a model and metric.")
    errors = results.errors
    if errors.empty:
        items.append("Errors: none.")
    else:
        by_stage = ", ".join(f"{stage}: {n}" for stage, n in errors.groupby("stage").size().items())
        plural = "s" if len(errors) != 1 else ""
        items.append(f"Errors: {len(errors)} failed evaluation{plural} ({by_stage}); see errors.csv.")
    return items


def render_markdown(blocks: Sequence[Block]) -> str:
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append("#" * block.level + " " + block.text)
        elif isinstance(block, Paragraph):
            parts.append(block.text)
        elif isinstance(block, Bullets):
            parts.append("\n".join(f"- {item}" for item in block.items))
        else:
            parts.append(to_markdown(block))
    return "\n\n".join(parts) + "\n"


def render_latex(blocks: Sequence[Block]) -> str:
    """A standalone document (article, booktabs, graphicx); each table is a float that can be copied into a paper."""
    parts = ["% Written by stabn-bench. Tables need booktabs (and graphicx for wide ones); [H] comes from float.\n"
             "\\documentclass{article}\n\\usepackage[margin=2cm]{geometry}\n\\usepackage{booktabs}\n"
             "\\usepackage{graphicx}\n\\usepackage{float}\n\\begin{document}"]
    commands = {1: "section*", 2: "subsection*", 3: "subsubsection*"}
    n_tables = 0
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"\\{commands.get(block.level, 'paragraph')}{{{latex_escape(block.text)}}}")
        elif isinstance(block, Paragraph):
            parts.append(latex_escape(block.text))
        elif isinstance(block, Bullets):
            items = "\n".join(f"\\item {latex_escape(i)}" for i in block.items)
            parts.append(f"\\begin{{itemize}}\n{items}\n\\end{{itemize}}")
        else:
            n_tables += 1
            parts.append(to_latex(block, label=f"tab:stabn-bench-{n_tables}", placement="H"))
    parts.append(r"\end{document}")
    return "\n\n".join(parts) + "\n"


def headline_table(summary: pd.DataFrame, metrics: Sequence[str] = HEADLINE_METRICS) -> Table | None:
    """Rows = model / method, columns = the headline metrics present; best per model and column marked."""
    present = [m for m in metrics if m in set(summary["metric"].unique())]
    if not present:
        return None
    rows = []
    for model in sorted(set(summary["model"].unique())):
        part = summary[(summary["model"] == model) & (summary["method"] != MODEL_LEVEL_METHOD)]
        methods = method_order(set(part["method"].unique()))
        table = estimate_table(part, model, present, methods)
        rows += [[Cell(model)] + row for row in table.rows]
    note = ground_truth_note(list(summary["metric"].unique()), metrics)
    return Table(["model", "method"] + [metric_header(m) for m in present], rows, caption=note or "")


def format_terminal_summary(run_dir: str | Path, summary: pd.DataFrame | None = None) -> str:
    """Text printed at the end of a run: accuracy, the headline scores (best marked ``*``) and the report's path.

    ``summary``: a :func:`~benchmark.report.tables.summary_table` already computed (else computed from scores.csv
    with the run's settings; ``summary.csv`` is reused when present).
    """
    from .files import load_results
    from .tables import summary_table

    results = load_results(run_dir)
    if summary is None:
        cached = Path(run_dir) / "summary.csv"
        if cached.exists():
            summary = pd.read_csv(cached, dtype={"model": str, "method": str, "metric": str}, keep_default_na=False,
                                  na_values={c: ["", "nan", "NaN"] for c in ("mean", "ci_low", "ci_high")})
        else:
            settings = ReportSettings.from_config(results.config)
            summary = summary_table(results.scores, settings.confidence, settings.n_resamples, settings.seed)
    parts = [f"stabn-bench results: {results.name}"]
    if not results.accuracy.empty:
        parts += ["", "Accuracy", to_text(accuracy_table(results.accuracy))]
    headline = headline_table(summary)
    if headline is not None:
        parts += ["", "Scores (mean ± 95% CI half-width; * = best per model)", to_text(headline)]
    if not results.errors.empty:
        parts += ["", f"{len(results.errors)} method/clip evaluations failed: see {Path(run_dir) / 'errors.csv'}"]
    report = Path(run_dir) / "summary.md"
    parts += ["", f"Report: {report}" + ("" if report.exists() else " (not written yet)"),
              f"Figures: {Path(run_dir) / 'figures'}"]
    return "\n".join(parts)
