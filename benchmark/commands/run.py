"""``stabn-bench run``: the whole benchmark (data, training, accuracy, explanations, scores, report)."""
from __future__ import annotations

import argparse
from collections import Counter

from .common import add_config_arguments, config_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run", help="run the whole benchmark (default: the embedded synthetic data set)",
        description=(
            "Generate or read the data, train baseline / abn / stabn (cached by config), measure accuracy, explain "
            "the test clips with every applicable method, score every explanation with every metric, and write "
            "results/<run-name>/ (tables, summary.md/.tex, figures/). Killed at any point, the same command resumes."
        ),
    )
    add_config_arguments(parser)
    parser.add_argument("--methods-module", default=None, metavar="MODULE",
                        help="load explanation methods from this module (dotted name or .py file); "
                             "the same as explain.methods_module=MODULE")
    parser.add_argument("--metrics-module", default=None, metavar="MODULE",
                        help="load metrics from this module (dotted name or .py file); "
                             "the same as metrics.metrics_module=MODULE")
    parser.add_argument("--restart", action="store_true",
                        help="discard an existing results/<run-name>/ first (only that run folder; trained checkpoints "
                             "stay cached)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from .. import distributed
    from ..pipeline.run import run_benchmark
    from ..report import format_terminal_summary

    import sys

    from ..pipeline.shards import ShardStore

    if args.methods_module:
        args.overrides = [*args.overrides, f"explain.methods_module={args.methods_module}"]
    if args.metrics_module:
        args.overrides = [*args.overrides, f"metrics.metrics_module={args.metrics_module}"]
    cfg = config_from_args(args)  # parsed only: run_benchmark loads plug-ins and checks names before any work
    run_dir = run_benchmark(cfg, restart=args.restart, progress=not args.no_progress)
    failed: list = []
    if distributed.is_main():
        print(format_terminal_summary(run_dir))
        failed = ShardStore(run_dir).failed_units()
        if failed:
            print(f"stabn-bench: {len(failed)} units of work (model, method, clip batch) failed; the errors are in "
                  f"{run_dir / 'errors.csv'} (one row per clip and method). Run the same command again to retry "
                  "them (after fixing the cause):", file=sys.stderr)
            for (model, method, error), count in Counter(failed).items():
                print(f"  {model} / {method}: {count} batch{'es' if count > 1 else ''}: {error}", file=sys.stderr)
    distributed.cleanup()
    return 1 if distributed.is_main() and failed else 0  # a run with failures says so in its exit status
