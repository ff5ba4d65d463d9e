"""``stabn-bench report RUN_DIR``: rewrite a run's report (summaries, paper tables, figures, report.html)."""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from ..errors import DataError
from ..report.files import FIGURE_FORMATS
from .plot import _formats


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="rewrite the report of a results folder (tables, figures, report.html)",
        description="Rewrite summary.md / summary.tex / summary.csv, the paper tables (tables/*.tex and main.tex), "
                    "the figures and report.html of a results folder from its tables alone (no models needed).",
    )
    parser.add_argument("results_dir", type=Path, metavar="RUN_DIR", help="a folder written by `stabn-bench run`")
    parser.add_argument("--format", dest="formats", action="append", type=_formats, default=None,
                        metavar="FMT[,FMT]", help="figure format(s) (default: the run's report.formats, else png)")
    parser.add_argument("--no-html", dest="html", action="store_false", help="skip report.html")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="processes that draw the figures (default: one per CPU core, at most 8)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..report import load_results, write_report

    if args.formats:
        formats = list(dict.fromkeys(f for group in args.formats for f in group))
    else:
        config = load_results(args.results_dir).config
        report_cfg = config["report"] if isinstance(config.get("report"), dict) else {}
        configured = report_cfg.get("formats") or ["png"]
        if not isinstance(configured, list) or any(f not in FIGURE_FORMATS for f in configured):
            raise DataError(f"{args.results_dir / 'config.yaml'}: report.formats = {str(configured)[:60]!r}; "
                            f"must be a list of {', '.join(FIGURE_FORMATS)} (or pass --format)")
        formats = list(dict.fromkeys(configured))
    started = time.perf_counter()
    workers = args.workers if args.workers is not None else min(8, os.cpu_count() or 1)
    if workers < 1:
        raise DataError(f"--workers {workers}: must be >= 1")
    paths = write_report(args.results_dir, formats=formats, html=args.html, workers=workers)
    print(f"wrote {len(paths)} files in {time.perf_counter() - started:.1f} s; "
          + (f"report: {args.results_dir / 'report.html'}" if args.html else f"tables: {args.results_dir / 'tables'}"))
    return 0
