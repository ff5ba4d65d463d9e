"""Method groups, recognised by name, and the order every table and figure lists methods in.

0. the attention of ST-ABN / ABN (names starting ``stabn``, ``st_abn``, ``abn`` or containing ``attention``): the
   methods under study;
1. other explanation methods (Grad-CAM, Captum baselines, user methods);
2. control methods (names containing ``random``, ``centre`` / ``center`` or ``motion``).
"""
from __future__ import annotations

from typing import Iterable

CONTROL_WORDS = ("random", "centre", "center", "motion")
ATTENTION_PREFIXES = ("stabn", "st_abn", "abn")


def method_group(method: str) -> int:
    """0 = ST-ABN / ABN attention, 1 = other explanation methods, 2 = controls."""
    name = method.lower()
    if any(word in name for word in CONTROL_WORDS):
        return 2
    if name.startswith(ATTENTION_PREFIXES) or "attention" in name:
        return 0
    return 1


def method_order(methods: Iterable[str]) -> list[str]:
    """Attention methods first, then the other methods, then the controls; alphabetical within each group."""
    return sorted(set(methods), key=lambda m: (method_group(m), m))
