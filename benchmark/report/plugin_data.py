"""The kinds of a run's plug-in methods and the directions of its plug-in metrics, stored as data.

A run writes ``plugins.json`` into its results folder (:func:`write_plugin_data`); ``report``, ``plot``,
``compare`` and ``readme`` read it (:func:`read_plugin_data`) to group and colour plug-in methods by kind and to
give plug-in metrics their arrows, bold best values and ranks. Nothing named in a results folder is ever imported:
a folder is data, whoever made it. The file::

    {"format": 1,
     "methods": [{"name": "my-method", "kind": "gradient"}],
     "metrics": [{"name": "gini", "direction": "higher", "family": "other", "description": "..."}]}

A name the file does not list (or a folder without the file) is drawn with the fallbacks of an unknown name: kind
``other``, no direction. Names of the built-in registries keep their built-in kind and direction whatever the
file says. Metric names read here are entered in the catalog for the report only (``from_results``): a config
cannot select them, and a real plug-in of the same name registers over them.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..runtime import atomic_write_text

PLUGINS_FILE = "plugins.json"
FORMAT = 1
#: longest name, family or description kept from the file (longer ones are an error or cut)
MAX_NAME = 200
MAX_DESCRIPTION = 300
_FAMILY = re.compile(r"[a-z][a-z0-9_-]{0,39}")

#: kinds read from results folders, for names the methods registry does not know (see ``groups.method_kind``)
RESULT_KINDS: dict[str, str] = {}


def _is_builtin(source: str) -> bool:
    return source.startswith("stabn_bench.")


def plugin_records() -> dict[str, Any]:
    """The plug-in methods and metrics registered in this process, as the content of ``plugins.json``."""
    from stabn_bench.baselines.registry import METHODS
    from stabn_bench.metrics import catalog
    from stabn_bench.metrics.registry import REGISTRY as METRICS

    methods = [{"name": spec.name, "kind": spec.kind, "source": spec.source}
               for spec in METHODS.objects() if not _is_builtin(spec.source)]
    metrics = []
    for spec in METRICS.objects():
        if spec.builtin:
            continue
        for name in [spec.name, *spec.derived_names()]:
            info = catalog.METRICS.get(name)
            if info is not None:
                metrics.append({"name": name, "direction": "higher" if info.higher_is_better else "lower",
                                "family": info.family, "description": info.description,
                                "variant_of": info.variant_of, "source": spec.source})
    return {"format": FORMAT, "methods": methods, "metrics": metrics}


def write_plugin_data(run_dir: str | Path) -> Path:
    """Write ``<run_dir>/plugins.json`` from the registries of this process (the run's plug-ins are loaded)."""
    path = Path(run_dir) / PLUGINS_FILE
    atomic_write_text(path, json.dumps(plugin_records(), indent=1, ensure_ascii=False) + "\n")
    return path


def _text(value: Any, path: Path, where: str, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        shown = repr(value)[:60]
        raise DataError(f"{path}: {where} is {shown}; expected a non-empty text of at most {limit} characters")
    return value


def read_plugin_data(run_dir: str | Path) -> dict[str, Any]:
    """Read ``<run_dir>/plugins.json`` (absent: nothing) and enter its kinds and directions for the names the
    registries do not know. A malformed file is a :class:`DataError` naming it and what is wrong."""
    from stabn_bench.baselines.registry import KINDS, METHODS
    from stabn_bench.metrics import catalog

    path = Path(run_dir) / PLUGINS_FILE
    if not path.is_file():
        return {"methods": [], "metrics": []}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise DataError(f"{path}: not a readable JSON file ({type(err).__name__}: {str(err)[:80]}); "
                        "delete it (plug-in names are then drawn as unknown)") from None
    if not isinstance(data, dict) or not isinstance(data.get("methods", []), list) \
            or not isinstance(data.get("metrics", []), list):
        raise DataError(f"{path}: expected an object with the lists 'methods' and 'metrics'")
    methods, metrics = [], []
    for i, entry in enumerate(data.get("methods", [])):
        if not isinstance(entry, dict):
            raise DataError(f"{path}: methods[{i}] is not an object with 'name' and 'kind'")
        name = _text(entry.get("name"), path, f"methods[{i}].name", MAX_NAME)
        kind = entry.get("kind")
        if kind not in KINDS:
            raise DataError(f"{path}: methods[{i}].kind is {str(kind)[:40]!r}; valid kinds: {', '.join(KINDS)}")
        methods.append((name, kind))
    for i, entry in enumerate(data.get("metrics", [])):
        if not isinstance(entry, dict):
            raise DataError(f"{path}: metrics[{i}] is not an object with 'name' and 'direction'")
        name = _text(entry.get("name"), path, f"metrics[{i}].name", MAX_NAME)
        direction = entry.get("direction")
        if direction not in ("higher", "lower"):
            raise DataError(f"{path}: metrics[{i}].direction is {str(direction)[:40]!r}; valid: higher, lower")
        family = entry.get("family", "other")
        if not isinstance(family, str) or not _FAMILY.fullmatch(family):
            raise DataError(f"{path}: metrics[{i}].family is {str(family)[:40]!r}; expected a lower-case word "
                            "(letters, digits, '_', '-'; at most 40 characters)")
        description = entry.get("description", name)
        description = description[:MAX_DESCRIPTION] if isinstance(description, str) else name
        variant_of = entry.get("variant_of")
        variant_of = variant_of if isinstance(variant_of, str) and len(variant_of) <= MAX_NAME else None
        metrics.append((name, direction, family, description, variant_of))
    for name, kind in methods:
        if name not in METHODS:
            RESULT_KINDS[name] = kind
    for name, direction, family, description, variant_of in metrics:
        if name not in catalog.METRICS or catalog.METRICS[name].from_results:
            catalog.add_result_metric(name, direction == "higher", family, description, variant_of)
    return {"methods": [n for n, _ in methods], "metrics": [m[0] for m in metrics]}
