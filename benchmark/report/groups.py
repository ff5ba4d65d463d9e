"""Method groups and the order every table and figure lists methods in, from the kinds the methods declare.

Each registered method declares its kind (``@register_method(..., kind=...)``, one of
:data:`stabn_bench.baselines.KINDS`). Tables and figures list the groups in this order:

0. ``attention`` — the attention of ST-ABN / ABN (the methods under study);
1. ``cam`` — class activation maps; 2. ``gradient`` — gradient methods; 3. ``perturbation`` — perturbation methods;
4. ``control`` — control methods (random, centre prior, motion); 5. ``oracle`` — maps built from the ground truth.

A name the registry does not know takes the kind its results folder stores in ``plugins.json`` (a plug-in method
of that run); any other name (e.g. of an old results folder) is of kind ``other`` and listed last: kinds are never
guessed from names.
"""
from __future__ import annotations

from typing import Iterable

from stabn_bench.core import KINDS

#: the kinds in the order tables and figures list them (``baselines.KINDS``, then ``other`` for unknown names)
KIND_ORDER = (*KINDS, "other")


def method_kind(method: str) -> str:
    """The kind the method declared in the registry (plug-ins included), ``other`` for a name it does not know."""
    from stabn_bench.baselines.registry import METHODS  # no entry-point scan: the report only reads kinds

    from .plugin_data import RESULT_KINDS  # kinds a results folder stores for its plug-ins (plugins.json)

    spec = METHODS.find(method)
    kind = spec.kind if spec is not None else RESULT_KINDS.get(method)
    return kind if kind in KIND_ORDER else "other"


def method_group(method: str) -> int:
    """Position of the method's kind in :data:`KIND_ORDER` (0 = attention, ..., 5 = oracle, 6 = other)."""
    return KIND_ORDER.index(method_kind(method))


def is_control(method: str) -> bool:
    """True for control methods and oracles: references, not methods under comparison."""
    return method_kind(method) in ("control", "oracle")


def method_order(methods: Iterable[str]) -> list[str]:
    """Methods grouped by kind in :data:`KIND_ORDER`, alphabetical within each kind."""
    return sorted(set(methods), key=lambda m: (method_group(m), m))
