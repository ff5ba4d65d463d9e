"""``stabn-bench methods``: every registered explanation method, the models it applies to and its cost class."""
from __future__ import annotations

import argparse

EPILOG = """\
examples:
  stabn-bench methods
  stabn-bench methods --model baseline           # only the methods that apply to the plain backbone
  stabn-bench methods --methods-module my_methods.py

cost classes: free (no backward pass), one-backward (one gradient, or two for guided-gradcam),
many-forwards (a forward or forward+backward pass per perturbation, integration step or noise sample).
Methods from packages that declare the 'stabn_bench.methods' entry-point group are listed too.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "methods", help="list the explanation methods (models they apply to, cost class, source)",
        description="List every registered explanation method.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default=None, help="only methods that apply to this model (baseline, abn, stabn)")
    parser.add_argument("--methods-module", action="append", default=[], metavar="MODULE",
                        help="also load methods from this module (dotted name or .py file); may be repeated")
    parser.set_defaults(func=run)


def format_table(rows: list[dict[str, str]], columns: list[str]) -> str:
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) if rows else len(c) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns).rstrip()]
    lines.append("  ".join("-" * widths[c] for c in columns))
    lines += ["  ".join(r[c].ljust(widths[c]) for c in columns).rstrip() for r in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from stabn_bench import baselines

    from stabn_bench.core import UnknownNameError

    from ..errors import StabnBenchError
    from ..models import MODELS

    if args.model is not None:
        try:
            MODELS.get(args.model)
        except UnknownNameError as err:
            raise StabnBenchError(str(err)) from None
    for module in args.methods_module:
        baselines.load_methods_module(module)
    specs = baselines.method_specs(args.model)
    shared = baselines.registry.SHARED_OPTIONS
    rows = [{"method": s.name, "kind": s.kind, "models": s.models_text, "cost": s.cost,
             "options": ", ".join(f"{k}={v}" for k, v in s.defaults.items() if k not in shared) or "-",
             "source": s.source} for s in specs]
    print(format_table(rows, ["method", "kind", "models", "cost", "options", "source"]))
    scope = f" that apply to '{args.model}'" if args.model else ""
    print(f"\n{len(rows)} methods{scope}")
    return 0
