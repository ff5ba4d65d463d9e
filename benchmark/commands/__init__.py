"""One module per ``stabn-bench`` subcommand; each exposes ``register(subparsers)``.

``register`` adds its parser and sets ``func=<callable(args) -> int | None>`` as the parser default.
Every module of this package that defines ``register`` is a subcommand (``common`` holds shared helpers).
"""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

#: The order ``stabn-bench --help`` lists the subcommands in; modules not named here follow alphabetically.
COMMAND_ORDER = ["run", "data", "train", "evaluate", "methods", "metrics", "explain", "plot", "report", "compare",
                 "perf"]


def command_modules() -> list[ModuleType]:
    names = [m.name for m in pkgutil.iter_modules(__path__) if m.name != "common"]
    names.sort(key=lambda n: (COMMAND_ORDER.index(n) if n in COMMAND_ORDER else len(COMMAND_ORDER), n))
    modules = [importlib.import_module(f"{__name__}.{n}") for n in names]
    return [m for m in modules if hasattr(m, "register")]
