"""Paper tables: one ``\\input``-able booktabs file per table under ``<run>/tables/`` and a ``main.tex`` around them.

Tables (labels are built from names, so they never move when a table is added):

- ``accuracy.tex`` — ``tab:<run>:accuracy``: top-1 / top-5 per model and head;
- ``headline-<model>.tex`` — ``tab:<run>:headline-<model>``: rows = methods, columns = the headline metrics;
- ``<metric>.tex`` — ``tab:<run>:<metric>``: rows = methods (grouped by family), columns = models (at most
  :data:`MAX_MODEL_COLUMNS` per table; more models are split into ``<metric>-2.tex``, ...).

Bold marks the best explanation method of a column *and every method not significantly different from it*:
two-sided Wilcoxon signed-rank tests of the best method against each other one on the clips both scored,
Holm-corrected over those comparisons (:func:`best_vs_others`), alpha = :data:`ALPHA`. Controls and oracles
are references and never bold. A (model, metric) flagged by the metric-validity check gets a dagger and is never
bold. :func:`score_grid` computes the cells once; the HTML report renders the same cells.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from scipy import stats

from stabn_bench.metrics.catalog import headline_metrics
from stabn_bench.metrics.statistics import higher_is_better, holm_adjust, wilcoxon_method

from ..runtime import atomic_write_text
from .files import MODEL_LEVEL_METHOD, Results, file_stems
from .style import REFERENCE_KINDS, family_order, method_kind, metric_label
from .tables import format_estimate, format_number, latex_escape

ALPHA = 0.05
TEST_NAME = ("two-sided Wilcoxon signed-rank test of the best method against each other method on the clips both "
             "scored, Holm-corrected over those comparisons")
#: model columns per metric table before it is split
MAX_MODEL_COLUMNS = 4
DAGGER_NOTE = "failed its validity check (metric\\_validity.csv) for this model; never bold"


@dataclass
class GridCell:
    text: str
    bold: bool = False
    flagged: bool = False
    #: the unrounded mean (for sorting in the HTML report)
    value: float = float("nan")


@dataclass
class Grid:
    """A table of score cells: ``rows`` = (method, kind), ``columns`` = (model, metric) pairs, ``cells[r][c]``."""

    rows: list[tuple[str, str]]
    columns: list[tuple[str, str]]
    cells: list[list[GridCell]]
    flagged_columns: list[bool] = field(default_factory=list)


def best_vs_others(values: pd.DataFrame, best: str) -> pd.Series:
    """Holm-adjusted two-sided Wilcoxon p-value of ``best`` against every other column of ``values`` (rows = clips,
    columns = methods), each on the clips both scored; NaN below 2 shared clips, 1 when all differences are 0.

    Exact p-values where scipy gives them cheaply (no ties or zeros, n <= 50), else the normal approximation with
    tie correction (scipy's permutation fallback for ties is too slow for a report).
    """
    others = [m for m in values.columns if m != best]
    p = pd.Series(np.nan, index=others, dtype=float)
    for other in others:
        pair = values[[best, other]].dropna()
        if len(pair) < 2:
            continue
        d = pair[best].to_numpy(float) - pair[other].to_numpy(float)
        if not np.any(d != 0):
            p[other] = 1.0
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # small-sample approximation warnings
            p[other] = stats.wilcoxon(d, zero_method="wilcox", method=wilcoxon_method(d)).pvalue
    p[:] = holm_adjust(p.to_numpy(float))
    return p


def significant_best(scores: pd.DataFrame, summary: pd.DataFrame, model: str, metric: str,
                     methods: Sequence[str], alpha: float = ALPHA, cache: dict | None = None) -> set[str]:
    """The best explanation method of ``model`` on ``metric`` by mean and every one not significantly different
    from it (:func:`best_vs_others`, p >= ``alpha``). Empty when the metric's direction is unknown or fewer than
    two explanation methods have values. ``cache``: a dict reused across calls (the tests run once per cell)."""
    higher = higher_is_better(metric)
    candidates = tuple(m for m in methods if method_kind(m) not in REFERENCE_KINDS)
    key = (model, metric, candidates)
    if cache is not None and key in cache:
        return cache[key]
    part = summary[(summary["model"] == model) & (summary["metric"] == metric) & summary["method"].isin(candidates)]
    means = part.groupby("method")["mean"].mean().dropna()
    bold: set[str] = set()
    if higher is not None and len(means) >= 2:
        best = means.idxmax() if higher else means.idxmin()
        rows = scores[(scores["model"] == model) & (scores["metric"] == metric) & scores["method"].isin(means.index)]
        values = rows.pivot_table(index="clip_id", columns="method", values="value", aggfunc="mean")
        p = best_vs_others(values, best) if best in values.columns else pd.Series(dtype=float)
        bold = {best} | {m for m, value in p.items() if not (value < alpha)}  # NaN: no evidence of a difference
    if cache is not None:
        cache[key] = bold
    return bold


def score_grid(scores: pd.DataFrame, summary: pd.DataFrame, columns: Sequence[tuple[str, str]],
               methods: Sequence[str], flagged: set[tuple[str, str]] | None = None, alpha: float = ALPHA,
               cache: dict | None = None) -> Grid:
    """Cells ``mean ± CI half-width`` for every method and (model, metric) column, bold by :func:`significant_best`."""
    flagged = flagged or set()
    summary = summary[summary["method"] != MODEL_LEVEL_METHOD]
    index = summary.set_index(["model", "method", "metric"]).sort_index()
    bold = {col: (set() if col in flagged else significant_best(scores, summary, col[0], col[1], methods, alpha, cache))
            for col in columns}
    cells = []
    for method in methods:
        row = []
        for model, metric in columns:
            key = (model, method, metric)
            if key in index.index:
                r = index.loc[key]
                r = r.iloc[0] if isinstance(r, pd.DataFrame) else r
                text, value = format_estimate(r["mean"], r["ci_low"], r["ci_high"]), float(r["mean"])
            else:
                text, value = "–", float("nan")
            row.append(GridCell(text, method in bold[(model, metric)] and text != "–", (model, metric) in flagged,
                                value))
        cells.append(row)
    return Grid([(m, method_kind(m)) for m in methods], list(columns), cells, [c in flagged for c in columns])


# ---------------------------------------------------------------- LaTeX


def latex_number(text: str) -> str:
    """``"0.123 ± 0.045"`` -> ``0.123{\\scriptsize\\,$\\pm$\\,0.045}``; ``–`` -> ``--``."""
    if text == "–":
        return "--"
    if " ± " in text:
        mean, half = text.split(" ± ")
        return f"{mean}{{\\scriptsize\\,$\\pm$\\,{half}}}"
    return latex_escape(text)


def _latex_float(label: str, caption: str, spec: str, header: list[str], body: list[str], notes: list[str],
                 wide: bool) -> str:
    env = "table*" if wide else "table"
    lines = [f"% {label}: written by stabn-bench (needs booktabs)", f"\\begin{{{env}}}[tbp]", r"\centering", r"\small",
             *([r"\setlength{\tabcolsep}{4pt}"] if wide else []),
             f"\\caption{{{caption}}}", f"\\label{{{label}}}", f"\\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(header) + r" \\", r"\midrule", *body, r"\bottomrule", r"\end{tabular}"]
    if notes:
        lines += [r"\par\smallskip", r"{\footnotesize " + " ".join(notes) + "}"]
    lines.append(f"\\end{{{env}}}")
    return "\n".join(lines) + "\n"


def grid_to_latex(grid: Grid, header: list[str], label: str, caption: str) -> str:
    """A booktabs table of ``grid`` (first column = method; a rule between families). ``header``: LaTeX (escaped)."""
    body, previous = [], None
    for (method, kind), row in zip(grid.rows, grid.cells):
        if previous is not None and kind != previous:
            body.append(r"\midrule")
        previous = kind
        cells = [latex_escape(method)]
        for cell in row:
            text = latex_number(cell.text)
            cells.append(f"\\textbf{{{text}}}" if cell.bold else text)
        body.append(" & ".join(cells) + r" \\")
    heads = [h + (r"$^\dagger$" if flag else "") for h, flag in zip(header, [False, *grid.flagged_columns])]
    notes = [r"$^\dagger$ " + DAGGER_NOTE + "."] if any(grid.flagged_columns) else []
    spec = "l" + "r" * len(grid.columns)
    return _latex_float(label, caption, spec, heads, body, notes, wide=len(grid.columns) > 3)


def bold_caption() -> str:
    return (f"Bold: the best explanation method and every method not significantly different from it "
            f"({TEST_NAME}, $\\alpha = {ALPHA}$); controls and oracles are references and never bold.")


def stacked_header(text: str) -> str:
    """A column header over two lines (``\\shortstack``) when it has more than two words, so many metric columns
    fit the text width without shrinking the table."""
    words = text.split(" ")
    if len(words) <= 2:
        return latex_escape(text)
    cut = max(range(1, len(words)), key=lambda k: -abs(len(" ".join(words[:k])) - len(" ".join(words[k:]))))
    return f"\\shortstack[r]{{{latex_escape(' '.join(words[:cut]))}\\\\{latex_escape(' '.join(words[cut:]))}}}"


def label_for(run: str, name: str) -> str:
    """``tab:<run>:<name>`` with characters LaTeX labels dislike replaced by ``-``."""
    return "tab:" + re.sub(r"[^A-Za-z0-9_.:-]+", "-", f"{run}:{name}")


def accuracy_latex(accuracy: pd.DataFrame, run: str) -> str:
    acc = accuracy.sort_values(["model", "head"], kind="stable")
    best1, best5 = acc["top1"].max(), acc["top5"].max()
    body = []
    for r in acc.itertuples(index=False):
        top1, top5 = format_number(r.top1), format_number(r.top5)
        top1 = f"\\textbf{{{top1}}}" if np.isclose(r.top1, best1) else top1
        top5 = f"\\textbf{{{top5}}}" if np.isclose(r.top5, best5) else top5
        clips = str(int(r.n_clips)) if np.isfinite(r.n_clips) else "--"
        body.append(f"{latex_escape(r.model)} & {latex_escape(r.head)} & {top1} & {top5} & {clips} \\\\")
    return _latex_float(label_for(run, "accuracy"), "Top-1 / top-5 accuracy on the test split per model and head "
                        "(best in bold).", "llrrr", ["model", "head", r"top-1 $\uparrow$", r"top-5 $\uparrow$",
                                                      "clips"], body, [], wide=False)


def method_metrics(scores: pd.DataFrame) -> list[str]:
    from .tables import sort_metrics

    return sort_metrics(scores.loc[scores["method"] != MODEL_LEVEL_METHOD, "metric"].unique())


def _chunks(items: Sequence, size: int) -> list[list]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)] or [[]]


def write_latex_tables(results: Results, summary: pd.DataFrame, out_dir: str | Path | None = None,
                       flagged: set[tuple[str, str]] | None = None, confidence: float = 0.95,
                       methods: Sequence[str] | None = None, metrics: Sequence[str] | None = None,
                       cache: dict | None = None) -> list[Path]:
    """Write every table and ``main.tex`` into ``out_dir`` (default ``<run>/tables``); returns the files, main.tex last.
    ``cache``: significance results shared with the HTML report (:func:`significant_best`)."""
    cache = {} if cache is None else cache
    out_dir = Path(out_dir or results.run_dir / "tables")
    run = results.name
    scores = results.scores[results.scores["method"] != MODEL_LEVEL_METHOD]
    if methods is not None:
        scores = scores[scores["method"].isin(methods)]
    level = int(confidence * 100)
    estimate = f"Mean {{\\scriptsize$\\pm$ half-width of the {level}\\% bootstrap CI}} over the explained test clips."
    files: dict[str, str] = {}
    if not results.accuracy.empty:
        files["accuracy"] = accuracy_latex(results.accuracy, run)
    models = sorted(set(scores["model"].unique()))
    names = [m for m in method_metrics(scores) if metrics is None or m in metrics]
    model_stems = file_stems(models)
    headline = headline_metrics()
    metric_stems = file_stems(names, reserved=("accuracy", "main", *(f"headline-{s}" for s in model_stems.values())))
    for model in models:
        part = scores[scores["model"] == model]
        head = [m for m in headline if m in names and m in set(part["metric"].unique())]
        if not head:
            continue
        model_methods = family_order(set(part["method"].unique()))
        grid = score_grid(part, summary, [(model, m) for m in head], model_methods, flagged, cache=cache)
        caption = (f"Main scores of {latex_escape(model)} ($\\uparrow$/$\\downarrow$: higher / lower is better). "
                   f"{estimate} {bold_caption()}")
        header = ["method"] + [stacked_header(metric_label(m)) for m in head]
        stem = f"headline-{model_stems[model]}"
        files[stem] = grid_to_latex(grid, header, label_for(run, stem), caption)
    for metric in names:
        rows = scores[scores["metric"] == metric]
        metric_models = sorted(set(rows["model"].unique()))
        all_methods = family_order(set(rows["method"].unique()))
        for k, chunk in enumerate(_chunks(metric_models, MAX_MODEL_COLUMNS), start=1):
            grid = score_grid(rows, summary, [(model, metric) for model in chunk], all_methods, flagged, cache=cache)
            name = metric_stems[metric] if k == 1 else f"{metric_stems[metric]}-{k}"
            caption = (f"{latex_escape(metric_label(metric))} per method and model. {estimate} {bold_caption()}")
            files[name] = grid_to_latex(grid, ["method", *map(latex_escape, chunk)], label_for(run, name), caption)
    written = []
    for name, text in files.items():
        path = out_dir / f"{name}.tex"
        atomic_write_text(path, text)
        written.append(path)
    main = out_dir / "main.tex"
    atomic_write_text(main, main_document(run, list(files)))
    return written + [main]


def main_document(run: str, names: Iterable[str]) -> str:
    """A standalone article that ``\\input``s every table (compile inside the tables folder)."""
    lines = []
    for k, name in enumerate(names, start=1):
        lines.append(f"\\input{{{name}.tex}}")
        if k % 6 == 0:
            lines.append("\\clearpage")  # LaTeX holds at most 18 unplaced floats
    inputs = "\n".join(lines)
    return ("% Written by stabn-bench: every table of the run; compile with `pdflatex main.tex` in this folder.\n"
            "\\documentclass{article}\n\\usepackage[margin=2cm]{geometry}\n\\usepackage[T1]{fontenc}\n"
            "\\usepackage{booktabs}\n\\begin{document}\n"
            f"\\section*{{stabn-bench results: {latex_escape(run)}}}\n{inputs}\n\\clearpage\n\\end{{document}}\n")
