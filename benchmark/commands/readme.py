"""``stabn-bench readme RUN_DIR``: regenerate the README's results block from a finished run."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "readme", help="regenerate the README's results block from a run folder",
        description="Replace the block between <!-- RESULTS:BEGIN --> and <!-- RESULTS:END --> in the README with "
                    "the accuracy table, the headline score table and one figure of RUN_DIR.",
    )
    parser.add_argument("run_dir", help="a finished run folder, e.g. results/synthetic")
    parser.add_argument("--readme", default="README.md", help="the README to update (default README.md)")
    parser.add_argument("--figure-dir", default="docs", help="where the figure is copied (default docs/)")
    parser.set_defaults(func=_readme)


def _readme(args: argparse.Namespace) -> int:
    from ..report.readme import update_readme

    path = update_readme(args.run_dir, args.readme, args.figure_dir)
    print(f"updated {path}")
    return 0
