"""``stabn-bench perf TARGET``: speed and memory measurements printed as ratios measured in one run.

Each target lives in ``benchmark/perf/<target>.py`` and exposes ``register(subparsers)`` like a command.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil

from .. import perf as perf_pkg


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "perf", help="measure speed and memory (ratios measured in one run)",
        description="Measure speed and memory; every target prints ratios measured in one run.",
    )
    targets = parser.add_subparsers(dest="perf_target", metavar="TARGET")
    for info in sorted(pkgutil.iter_modules(perf_pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{perf_pkg.__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(targets)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
