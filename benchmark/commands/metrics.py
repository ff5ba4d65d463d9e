"""``stabn-bench metrics``: every metric (built in and plug-in), which direction is better, and what it needs."""
from __future__ import annotations

import argparse

EPILOG = """\
examples:
  stabn-bench metrics
  stabn-bench metrics --metrics-module my_metrics.py

Metrics from packages that declare the 'stabn_bench.metrics' entry-point group are listed too.
Per-granularity variants (deletion_auc_voxel, ...) follow metrics.granularities and are not listed.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "metrics", help="list the metrics (direction, family, granularity, headline column, inputs, source)",
        description="List every metric a run can score: built in and plug-in.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--metrics-module", action="append", default=[], metavar="MODULE",
                        help="also load metrics from this module (dotted name or .py file); may be repeated")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stabn_bench.metrics import registry
    from stabn_bench.metrics.registry import ceiling_name

    from .methods import format_table

    for module in args.metrics_module:
        registry.load_metrics_module(module)
    registry.load_entry_point_metrics()
    rows = []
    for entry in registry.REGISTRY.describe():  # the registry's entries and their metadata, in its order
        row = {
            "metric": entry["name"], "better": entry["direction"], "family": entry["family"],
            "granularity": entry["granularity"] or "-", "headline": str(entry["headline"] or "-"),
            "needs": ",".join(entry["needs"]), "source": entry["source"],
            "plug-in": "" if entry["builtin"] else "yes",
        }
        rows.append(row)
        if entry["ceiling"]:
            rows.append({**row, "metric": ceiling_name(entry["name"]), "headline": "-"})
    columns = ["metric", "better", "family", "granularity", "headline", "needs", "source"]
    print(format_table(rows, columns))
    plugins = sum(1 for r in rows if r["plug-in"])
    print(f"\n{len(rows)} metrics ({plugins} plug-in); headline: the column in the headline tables; "
          "*_ceiling: the score of a perfect map at the method's native resolution")
    return 0
