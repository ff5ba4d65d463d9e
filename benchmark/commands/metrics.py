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
        "metrics", help="list the metrics (direction, family, inputs, source)",
        description="List every metric a run can score: built in and plug-in.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--metrics-module", action="append", default=[], metavar="MODULE",
                        help="also load metrics from this module (dotted name or .py file); may be repeated")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stabn_bench.metrics import catalog, registry

    from .methods import format_table

    for module in args.metrics_module:
        registry.load_metrics_module(module)
    registry.load_entry_point_metrics()
    rows = []
    for name in catalog.selectable_metric_names():
        info = catalog.METRICS[name]
        spec = registry.get_metric(name)
        rows.append({
            "metric": name, "better": "higher" if info.higher_is_better else "lower", "family": info.family,
            "needs": ",".join(spec.needs) if spec else "built in",
            "granularity": (spec.granularity or "-") if spec else "-",
            "source": spec.source if spec else "stabn_bench.metrics",
        })
    print(format_table(rows, ["metric", "better", "family", "needs", "granularity", "source"]))
    plugins = sum(1 for r in rows if r["needs"] != "built in")
    print(f"\n{len(rows)} metrics ({plugins} plug-in)")
    return 0
