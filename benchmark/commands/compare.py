"""``stabn-bench compare RUN_A RUN_B``: print and write the differences between two runs."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import StabnBenchError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare", help="differences between two runs (scores, accuracy, config)",
        description="Compare two results folders: per model × method × metric the mean in A and B, the difference, "
                    "whether it is beyond the 95%% CIs or a paired Wilcoxon test on shared clips; accuracy and config "
                    "differences. Printed, and written to --out (.md or .csv; default RUN_B/compare_<A>.md).",
    )
    parser.add_argument("run_a", type=Path, metavar="RUN_A")
    parser.add_argument("run_b", type=Path, metavar="RUN_B")
    parser.add_argument("--out", type=Path, default=None, help="FILE.md (all tables) or FILE.csv (the score table)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..report.compare import compare_runs, render_comparison
    from ..report.files import safe_name, write_table
    from ..runtime import atomic_write_text

    out = args.out or args.run_b / f"compare_{safe_name(args.run_a.resolve().name)}.md"
    if out.suffix not in (".md", ".csv"):
        raise StabnBenchError(f"--out {out}: unsupported file type '{out.suffix}'; use .md or .csv")
    comparison = compare_runs(args.run_a, args.run_b)
    print(render_comparison(comparison))
    if out.suffix == ".csv":
        write_table(comparison.scores, out)
    else:
        atomic_write_text(out, render_comparison(comparison, markdown=True))
    print(f"written to {out}")
    return 0
