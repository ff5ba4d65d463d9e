"""Import a user's module by dotted name or ``.py`` path: how plug-in methods and metrics get into a process.

Only modules the user names on the command line or in the run's config (never one named in a checkpoint) are
imported; a file gets a module name derived from its resolved path, so it is imported once per process.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from .errors import StabnBenchError


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
