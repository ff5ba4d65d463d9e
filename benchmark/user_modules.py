"""Import a user's module by dotted name or ``.py`` path: how plug-in methods and metrics get into a process.

Only modules the user names on the command line or in the run's config (never one named in a checkpoint) are
imported; a file gets a module name derived from its resolved path, so it is imported once per process.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import logging
import sys
from pathlib import Path

from .errors import StabnBenchError

log = logging.getLogger("stabn_bench")


def import_user_module(name_or_path: str, what: str, namespace: str) -> None:
    """Import a dotted module or a ``.py`` file once per process (a file under a name derived from its path)."""
    path = Path(name_or_path)
    try:
        if path.suffix == ".py" or path.is_file():
            if not path.is_file():
                raise StabnBenchError(f"{what} module file '{path}' does not exist")
            resolved = path.resolve()
            digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
            module_name = f"{namespace}.{resolved.stem}_{digest}"
            if module_name not in sys.modules:
                spec = importlib.util.spec_from_file_location(module_name, resolved)
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                sys.modules[module_name] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    sys.modules.pop(module_name, None)
                    raise
        else:
            importlib.import_module(name_or_path)
    except StabnBenchError:
        raise
    except Exception as err:  # the user's code: report why in one line
        first = str(err).splitlines()[0] if str(err) else ""
        raise StabnBenchError(
            f"cannot import {what} module '{name_or_path}': {type(err).__name__}: {first} "
            "(give a dotted module name on the Python path or a path to a .py file)"
        ) from err


def load_entry_points(group: str, what: str) -> None:
    """Import every module of the entry-point ``group`` of the installed packages; a plugin that fails to import
    is logged as a warning (naming it as a ``what`` plugin) and skipped, so one broken package does not take the
    built-in methods and metrics down with it."""
    for entry_point in importlib.metadata.entry_points(group=group):
        try:
            entry_point.load()
        except Exception as err:  # a third party's package
            log.warning("%s plugin '%s' (%s) failed to load: %s: %s",
                        what, entry_point.name, entry_point.value, type(err).__name__, err)
