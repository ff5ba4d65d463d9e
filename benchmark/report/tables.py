"""Score tables: means with bootstrap CIs per model × method × metric, best per column, and one table type
rendered three ways (Markdown, LaTeX with booktabs, aligned plain text for the terminal)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Sequence

import numpy as np
import pandas as pd

from stabn_bench.metrics.catalog import GRANULARITIES, METRICS, per_granularity
from stabn_bench.metrics.statistics import bootstrap_ci, higher_is_better

SUMMARY_COLUMNS = ["model", "method", "metric", "mean", "ci_low", "ci_high", "n"]
#: decimals shown in every table; ties for "best" are judged at this precision
DECIMALS = 3


def summary_table(
    scores_df: pd.DataFrame, confidence: float = 0.95, n_resamples: int = 1000, seed: int = 0,
) -> pd.DataFrame:
    """Mean, bootstrap CI (``ci_low``, ``ci_high``) and clip count ``n`` per model × method × metric.

    ``scores_df``: the long ``scores.csv`` table (``model, method, metric, clip_id, value``). NaN values are
    ignored. Rows are sorted by model, method, metric.
    """
    records = []
    for (model, method, metric), group in scores_df.groupby(["model", "method", "metric"], sort=True):
        values = group["value"].to_numpy(dtype=float)
        values = values[~np.isnan(values)]
        mean, low, high = bootstrap_ci(values, confidence=confidence, n_resamples=n_resamples, seed=seed)
        records.append((model, method, metric, mean, low, high, len(values)))
    return pd.DataFrame.from_records(records, columns=SUMMARY_COLUMNS)


def metric_header(metric: str) -> str:
    """``"deletion_auc ↓"``: the name and the catalog's arrow (no arrow for an unknown metric)."""
    info = METRICS.get(metric)
    return f"{metric} {info.arrow}" if info else metric


def sort_metrics(names) -> list[str]:
    """Metric names in catalog order (faithfulness, temporal, localisation, ...), unknown names last, alphabetical."""
    catalog = list(METRICS)
    return sorted(set(names), key=lambda m: (catalog.index(m) if m in catalog else len(catalog), m))


def split_variant(metric: str) -> tuple[str, str | None]:
    """``"deletion_auc_voxel"`` -> ``("deletion_auc", "voxel")``; a metric at the configured first granularity
    (or without granularity) -> ``(metric, None)``."""
    bases = per_granularity()
    for granularity in GRANULARITIES:
        base = metric[: -len(granularity) - 1]
        if metric.endswith(f"_{granularity}") and base in bases:
            return base, granularity
    return metric, None


def format_number(value: float, decimals: int = DECIMALS) -> str:
    """``value`` at ``decimals``; ``–`` when missing; never ``-0.000`` (a value that rounds to zero prints unsigned)."""
    if value is None or not np.isfinite(value):
        return "–"
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def format_estimate(mean: float, low: float, high: float, decimals: int = DECIMALS) -> str:
    """``"0.123 ± 0.045"`` with ± half the CI width; just the mean when the CI is missing or empty."""
    if not np.isfinite(mean):
        return "–"
    if not (np.isfinite(low) and np.isfinite(high)) or high <= low:
        return format_number(mean, decimals)
    return f"{format_number(mean, decimals)} ± {format_number((high - low) / 2, decimals)}"


def best_mask(means: pd.DataFrame, directions: dict[str, bool] | None = None, decimals: int = DECIMALS) -> pd.DataFrame:
    """True where a cell is the best of its column (rows = methods, columns = metrics), judged at ``decimals``.

    Direction per column from ``directions`` or the catalog; all tied best cells are True; a column whose
    direction is unknown, or with fewer than two values, has no best.
    """
    mask = pd.DataFrame(False, index=means.index, columns=means.columns)
    for column in means.columns:
        higher = (directions or {}).get(column, higher_is_better(column))
        values = means[column].round(decimals)
        if higher is None or values.notna().sum() < 2:
            continue
        best = values.max() if higher else values.min()
        mask[column] = values == best
    return mask


@dataclass
class Cell:
    text: str
    bold: bool = False


@dataclass
class Table:
    """A rendered table: header texts and rows of cells; the first column is left-aligned, the rest right."""

    columns: list[str]
    rows: list[list[Cell]]
    caption: str = ""

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, bold: pd.DataFrame | None = None, caption: str = "",
                   index_name: str | None = None) -> "Table":
        """Cells from a DataFrame of strings (index becomes the first column); ``bold`` a same-shaped bool frame."""
        columns = [index_name or str(frame.index.name or "")] + [str(c) for c in frame.columns]
        rows = []
        for label, row in frame.iterrows():
            cells = [Cell(str(label))]
            for column in frame.columns:
                cells.append(Cell(str(row[column]), bool(bold.loc[label, column]) if bold is not None else False))
            rows.append(cells)
        return cls(columns, rows, caption)


def estimate_table(
    summary: pd.DataFrame, model: str, metrics: Sequence[str], methods: Sequence[str], caption: str = "",
    invalid: Collection[str] = (),
) -> Table:
    """Rows = methods, columns = ``metric ↑/↓``, cells ``mean ± CI half-width``, best per column bold.

    The best is chosen among the explanation methods: controls and oracles are references, shown but never bold.
    ``invalid``: metrics that failed the validity check; their header gets a dagger and their column no bold."""
    rows = summary[(summary["model"] == model) & summary["metric"].isin(metrics) & summary["method"].isin(methods)]
    means = rows.pivot(index="method", columns="metric", values="mean").reindex(index=list(methods), columns=list(metrics))
    text = pd.DataFrame("–", index=means.index, columns=means.columns)
    for r in rows.itertuples(index=False):
        text.loc[r.method, r.metric] = format_estimate(r.mean, r.ci_low, r.ci_high)
    from .groups import is_control

    candidates = [m for m in means.index if not is_control(m)] or list(means.index)
    bold = pd.DataFrame(False, index=means.index, columns=means.columns)
    bold.loc[candidates] = best_mask(means.loc[candidates])
    bold.loc[:, [m for m in metrics if m in set(invalid)]] = False
    text.columns = [metric_header(m) + (" †" if m in set(invalid) else "") for m in metrics]
    bold.columns = text.columns
    return Table.from_frame(text, bold, caption, index_name="method")


# ---------------------------------------------------------------- renderers


_MD_LINE = str.maketrans({"\r": " ", "\n": " ", "\t": " ", "<": "&lt;", ">": "&gt;"})
_MD_CELL = {"\\": "\\\\", "|": "\\|", "*": "\\*", "`": "\\`", "[": "\\[", "]": "\\]"}


def md_text(text: str) -> str:
    """Text (a heading, a paragraph, a caption) that stays on its line and holds no HTML: line breaks become
    spaces and ``<`` / ``>`` entities, so no name can open a comment or close the README's results block."""
    return str(text).translate(_MD_LINE)


def md_escape(text: str) -> str:
    """A name in a Markdown table cell: :func:`md_text`, plus ``\\ | * ` [ ]`` escaped so that it cannot split
    the row into more columns, make a link or change the emphasis."""
    return "".join(_MD_CELL.get(ch, ch) for ch in md_text(text))


def to_markdown(table: Table) -> str:
    def cell(c: Cell) -> str:
        text = md_escape(c.text)
        return f"**{text}**" if c.bold and text != "–" else text

    lines = ["| " + " | ".join(md_escape(h) for h in table.columns) + " |",
             "|" + "|".join([":---"] + ["---:"] * (len(table.columns) - 1)) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows]
    out = "\n".join(lines)
    if table.caption:
        out = f"*{md_text(table.caption)}*\n\n{out}"
    return out


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "↑": r"$\uparrow$", "↓": r"$\downarrow$", "±": r"$\pm$", "Δ": r"$\Delta$", "–": "--", "—": "---",
    "×": r"$\times$", "≥": r"$\geq$", "≤": r"$\leq$", "<": r"$<$", ">": r"$>$", "†": r"\textsuperscript{\dag}",
    "−": r"$-$", "ρ": r"$\rho$", "α": r"$\alpha$", "|": r"$|$",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters and turn the symbols used in tables (↑ ↓ ± Δ –) into LaTeX."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def to_latex(table: Table, label: str = "", placement: str = "tbp") -> str:
    """A ``table`` float with a booktabs ``tabular``; best cells in ``\\textbf``; wide tables (more than 5 columns)
    as ``table*`` (never shrunk)."""
    def cell(c: Cell) -> str:
        text = latex_escape(c.text)
        return f"\\textbf{{{text}}}" if c.bold and c.text != "–" else text

    spec = "l" + "r" * (len(table.columns) - 1)
    body = [f"\\begin{{tabular}}{{{spec}}}", r"\toprule",
            " & ".join(latex_escape(h) for h in table.columns) + r" \\", r"\midrule"]
    body += [" & ".join(cell(c) for c in row) + r" \\" for row in table.rows]
    body += [r"\bottomrule", r"\end{tabular}"]
    tabular = "\n".join(body)
    env = "table*" if len(table.columns) > 5 else "table"  # wide: the full text width of a two-column paper
    parts = [f"\\begin{{{env}}}[{placement}]", r"\centering", r"\small"]
    if table.caption:
        parts.append(f"\\caption{{{latex_escape(table.caption)}}}")
    if label:
        parts.append(f"\\label{{{label}}}")
    parts += [tabular, f"\\end{{{env}}}"]
    return "\n".join(parts)


def to_text(table: Table) -> str:
    """Aligned plain text; best cells marked with a trailing ``*``."""
    rows = [table.columns] + [[c.text + ("*" if c.bold and c.text != "–" else "") for c in row] for row in table.rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(table.columns))]

    def line(r: list[str]) -> str:
        return "  ".join(t.ljust(w) if i == 0 else t.rjust(w) for i, (t, w) in enumerate(zip(r, widths)))

    out = [line(rows[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in rows[1:]]
    if table.caption:
        out.insert(0, table.caption)
    return "\n".join(out)
