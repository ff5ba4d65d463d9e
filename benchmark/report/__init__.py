"""The report of a run, built from its result files alone: summary tables (Markdown, LaTeX, CSV), paper tables
(``tables/*.tex``), figures and ``report.html``.

The runner writes the tables with :func:`write_table`, :func:`temporal_rows` and :func:`write_overlay`
(formats in :mod:`stabn_bench.benchmark.report.files`), then calls :func:`write_report` and prints
:func:`format_terminal_summary`.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

from stabn_bench.metrics.statistics import all_paired_tests

from ..errors import StabnBenchError
from ..runtime import atomic_write_text
from .agreement import agreement_table
from .files import (
    MODEL_LEVEL_METHOD, Results, clip_to_frames, inside_folder, load_results, read_overlay, temporal_rows,
    write_overlay, write_table,
)
from .seeds import seed_summary_table, with_seed_in_clip_id
from .flags import flagged_metrics
from .latex import write_latex_tables
from .summary import ReportSettings, build_blocks, format_terminal_summary, render_latex, render_markdown
from .tables import summary_table
from .validity import read_validity, thresholds_from_config, validity_flags, with_valid_column

__all__ = [
    "Results", "load_results", "write_table", "temporal_rows", "write_overlay", "read_overlay", "clip_to_frames",
    "summary_table", "write_report", "write_figures", "format_terminal_summary",
]


def _check_selection(results: Results, methods: Sequence[str] | None, metrics: Sequence[str] | None) -> None:
    """Unknown method / metric names are an error naming the valid ones."""
    if methods is not None:
        unknown = sorted(set(methods) - set(results.methods))
        if unknown:
            raise StabnBenchError(f"{results.run_dir}: no results for method(s) {unknown}; the run has {results.methods}")
    if metrics is not None:
        known = set(results.scores["metric"].unique()) | set(results.curves["metric"].unique())
        known |= {f"{c}_auc" for c in results.curves["metric"].unique()}
        unknown = sorted(set(metrics) - known)
        if unknown:
            raise StabnBenchError(f"{results.run_dir}: no results for metric(s) {unknown}; the run has {sorted(known)}")


def write_figures(
    run_dir: str | Path,
    formats: Sequence[str] = ("png", "pdf"),
    methods: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    results: Results | None = None,
    summary=None,
    workers: int = 1,
) -> list[Path]:
    """(Re)draw every figure of a run folder into ``out_dir`` (default ``<run_dir>/figures``); returns the files.
    ``workers`` > 1 draws them in that many processes."""
    from .plots import draw_figures  # matplotlib is imported only when figures are drawn
    from .style import check_formats

    try:
        formats = check_formats(formats)
    except ValueError as err:
        raise StabnBenchError(str(err)) from err
    results = results or load_results(run_dir)
    _check_selection(results, methods, metrics)
    settings = ReportSettings.from_config(results.config, results.run_dir / "config.yaml")
    for path in results.overlays:  # a broken overlay is an error before any figure is drawn
        read_overlay(path)
    if summary is None:
        summary = seed_summary_table(results.scores, settings.confidence, settings.n_resamples, settings.seed)
    # several seeds: each (clip, seed) is one sample of the curves and per-frame importances
    results = replace(results, curves=with_seed_in_clip_id(results.curves),
                      temporal=with_seed_in_clip_id(results.temporal))
    if out_dir is None:  # the run's own figures/: written only if it lies inside the results folder
        out_dir = inside_folder(results.run_dir, results.run_dir / "figures")
    return draw_figures(results, summary, out_dir, formats, methods, metrics,
                        settings.confidence, settings.n_resamples, settings.seed, workers=workers)


def write_report(
    run_dir: str | Path,
    formats: Sequence[str] = ("png", "pdf"),
    methods: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    html: bool = True,
    workers: int = 1,
) -> list[Path]:
    """Read the result tables of ``run_dir`` and write ``summary.csv`` (mean, CI, n per model × method × metric,
    then the spread across training seeds: :func:`~benchmark.report.seeds.seed_summary_table`; ``valid``: the
    metric-validity verdict of ``metric_validity.csv``, True / False / empty when unchecked),
    ``paired_tests.csv`` (Wilcoxon + Holm for every method pair, model and metric), ``metric_agreement.csv``
    (Kendall tau between the method rankings of every pair of headline metrics, per model), ``summary.md``,
    ``summary.tex``, the paper tables under ``tables/`` (one ``.tex`` each and ``main.tex``), every figure under
    ``figures/`` and ``report.html`` (one self-contained file). Returns the written paths. ``workers`` > 1 draws
    the figures in that many processes (the same files)."""
    results = load_results(run_dir)
    _check_selection(results, methods, metrics)
    settings = ReportSettings.from_config(results.config, results.run_dir / "config.yaml")
    thresholds_from_config(results.config, str(results.run_dir / "config.yaml"))  # every number checked up front
    for path in results.overlays:  # a broken overlay is an error before anything is written
        read_overlay(path)
    summary = seed_summary_table(results.scores, settings.confidence, settings.n_resamples, settings.seed)
    run_dir = results.run_dir
    for target in ("summary.csv", "paired_tests.csv", "metric_agreement.csv", "summary.md", "summary.tex", "tables",
                   "figures", "report.html"):
        inside_folder(run_dir, run_dir / target)  # checked before anything is written
    validity = read_validity(run_dir)
    summary = with_valid_column(summary, validity_flags(validity))
    written = [write_table(summary, run_dir / "summary.csv"),
               write_table(all_paired_tests(results.scores, MODEL_LEVEL_METHOD), run_dir / "paired_tests.csv"),
               write_table(agreement_table(results.scores), run_dir / "metric_agreement.csv")]
    blocks = build_blocks(results, summary, settings, methods, metrics, validity=validity)
    atomic_write_text(run_dir / "summary.md", render_markdown(blocks))
    atomic_write_text(run_dir / "summary.tex", render_latex(blocks))
    written += [run_dir / "summary.md", run_dir / "summary.tex"]
    flagged = flagged_metrics(run_dir)
    significance: dict = {}  # the paired tests behind bold cells, shared by the LaTeX tables and report.html
    written += write_latex_tables(results, summary, run_dir / "tables", flagged, settings.confidence, methods, metrics,
                                  cache=significance)
    figures = None
    if formats:  # no formats: the tables only (e.g. a headless cluster run; `stabn-bench plot` draws them later)
        figures = write_figures(run_dir, formats, methods, metrics, results=results, summary=summary,
                                workers=workers)
        written += figures
    if html:
        from .html import write_html_report

        written.append(write_html_report(results, summary, run_dir / "report.html", flagged,
                                         confidence=settings.confidence, methods=methods, figures=figures,
                                         cache=significance))
    return written
