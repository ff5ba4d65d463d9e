"""Methods from outside this project: a user's module (``--methods-module``) or the ``stabn_bench.methods``
entry-point group of an installed package. Importing the module runs its ``@register_method`` decorators.
"""
from __future__ import annotations

from stabn_bench.core import import_user_module, load_entry_points

#: The entry-point group an installed package uses to add explanation methods, e.g. in its pyproject.toml:
#: ``[project.entry-points."stabn_bench.methods"] my_methods = "my_package.methods"``
ENTRY_POINT_GROUP = "stabn_bench.methods"

_entry_points_loaded = False


def _names() -> set[str]:
    from .registry import _REGISTRY

    return set(_REGISTRY)


def load_methods_module(name_or_path: str) -> list[str]:
    """Import a module that registers methods: a dotted name (``my.methods``) or a ``.py`` file path.

    Returns the names it registered (in sorted order). Raises :class:`StabnBenchError` naming the module and why
    it could not be imported.
    """
    before = _names()
    import_user_module(name_or_path, "methods", "stabn_bench_user_methods")
    return sorted(_names() - before)


def load_entry_point_methods(force: bool = False) -> list[str]:
    """Import every module of the ``stabn_bench.methods`` entry-point group (once per process).

    A plugin that fails to import is logged as a warning and skipped, so one broken package does not take the
    built-in methods down with it. Returns the names the plugins registered.
    """
    global _entry_points_loaded
    if _entry_points_loaded and not force:
        return []
    _entry_points_loaded = True
    before = _names()
    load_entry_points(ENTRY_POINT_GROUP, "explanation-method")
    return sorted(_names() - before)
