"""``stabn-bench compare RUN_A RUN_B``: the differences between two runs (printed; written to --out DIR)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import StabnBenchError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare", help="differences between two runs (scores, accuracy, config)",
        description="Compare two results folders on the cells (model × method × metric) both have: mean in A and B, "
                    "the difference, a paired Wilcoxon signed-rank test on the shared clips, Holm-corrected over all "
                    "compared cells; accuracy and config differences. Cells of one run only are counted. Prints the "
                    "clear differences; --out DIR writes compare.md (every shared cell) and compare.csv.",
    )
    parser.add_argument("run_a", type=Path, metavar="RUN_A")
    parser.add_argument("run_b", type=Path, metavar="RUN_B")
    parser.add_argument("--methods", nargs="+", default=None, help="only these methods")
    parser.add_argument("--metrics", nargs="+", default=None, help="only these metrics")
    parser.add_argument("--all", dest="show_all", action="store_true", help="print every shared cell, not only "
                                                                             "the clear differences")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="folder for compare.md and compare.csv (default: print only; nothing is written)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..report.compare import compare_runs, render_comparison
    from ..report.files import write_table
    from ..runtime import atomic_write_text

    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise StabnBenchError(f"--out {args.out}: is a file; give a folder (compare.md and compare.csv go in it)")
    comparison = compare_runs(args.run_a, args.run_b, args.methods, args.metrics)
    print(render_comparison(comparison, only_clear=not args.show_all), end="")
    if args.out is not None:
        atomic_write_text(args.out / "compare.md", render_comparison(comparison, markdown=True))
        write_table(comparison.scores, args.out / "compare.csv")
        print(f"written to {args.out / 'compare.md'} and {args.out / 'compare.csv'}")
    return 0
