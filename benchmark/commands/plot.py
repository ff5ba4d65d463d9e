"""``stabn-bench plot RESULTS_DIR``: redraw a run's figures from its result tables alone (no models needed)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..report.files import FIGURE_FORMATS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plot", help="redraw the figures of a results folder (no models needed)",
        description="Redraw every figure of a results folder from its tables (scores.csv, curves.csv, temporal.csv, "
                    "accuracy.csv, overlays/), e.g. as PDF or SVG for a paper.",
    )
    parser.add_argument("results_dir", type=Path, metavar="RESULTS_DIR", help="a folder written by `stabn-bench run`")
    # one value per --format (repeatable, or comma-separated): a list option would swallow RESULTS_DIR
    parser.add_argument("--format", dest="formats", action="append", type=_formats, default=None,
                        metavar="FMT[,FMT]", help=f"figure format(s) of {', '.join(FIGURE_FORMATS)}; repeat the option "
                                                  "or separate by commas (default: png,pdf)")
    parser.add_argument("--methods", nargs="+", default=None, help="only these explanation methods")
    parser.add_argument("--metrics", nargs="+", default=None,
                        help="only these metrics (a curve is kept when its name or <name>_auc is listed)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: RESULTS_DIR/figures)")
    parser.set_defaults(func=run)


def _formats(text: str) -> list[str]:
    formats = [f.strip().lower().lstrip(".") for f in text.split(",") if f.strip()]
    bad = [f for f in formats if f not in FIGURE_FORMATS]
    if bad or not formats:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(FIGURE_FORMATS)}")
    return formats


def run(args: argparse.Namespace) -> int:
    from ..report import write_figures

    formats = [f for group in (args.formats or [["png", "pdf"]]) for f in group]
    paths = write_figures(args.results_dir, list(dict.fromkeys(formats)), args.methods, args.metrics, out_dir=args.out)
    folder = args.out or args.results_dir / "figures"
    print(f"wrote {len(paths)} figure files to {folder}")
    return 0
