"""One look for every figure: the seaborn theme, one colour per method, and saving.

The three method groups of :mod:`stabn_bench.benchmark.report.groups` get their own colours: the attention of ST-ABN / ABN in
strong reds, other explanation methods in the muted ``deep`` palette, control methods in greys. Within a group,
colours follow the sorted names, so a method keeps its colour in every figure of a run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from ..runtime import atomic_path  # noqa: E402
from .files import FIGURE_FORMATS as FORMATS  # noqa: E402
from .groups import method_kind, method_order  # noqa: E402
#: reds for the attention of ST-ABN / ABN (the methods under study), distinct from the muted palette of the others
_STRONG = ["#d62728", "#7a0019", "#ff7b6b", "#b30059"]
_GREYS = ["#4d4d4d", "#8c8c8c", "#b3b3b3", "#2b2b2b", "#a0a0a0", "#6e6e6e"]

_style_applied = False


def apply_style() -> None:
    """Set the seaborn theme and matplotlib defaults once per process (fonts embedded as TrueType in PDF)."""
    global _style_applied
    if _style_applied:
        return
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)
    plt.rcParams.update({
        "figure.dpi": 100,
        "savefig.dpi": 200,
        "savefig.bbox": "tight",
        "pdf.fonttype": 42,
        "ps.fonttype": 42,
        "svg.fonttype": "none",
        "legend.frameon": False,
        "axes.titleweight": "bold",
    })
    _style_applied = True


def method_palette(methods: Iterable[str]) -> dict[str, tuple | str]:
    """Method -> colour, fixed by the sorted method names (see the module docstring)."""
    ordered = method_order(methods)
    deep = sns.color_palette("deep", 10)
    deep = [c for i, c in enumerate(deep) if i not in (3, 7)]  # leave out red and grey: they mean attention / control
    pools = {0: _STRONG, 1: deep, 2: _GREYS}
    counters = {0: 0, 1: 0, 2: 0}
    palette = {}
    for method in ordered:
        kind = method_kind(method)
        group = 0 if kind == "attention" else 2 if kind in ("control", "oracle") else 1
        pool = pools[group]
        palette[method] = pool[counters[group] % len(pool)]
        counters[group] += 1
    return palette


def method_linestyle(method: str) -> str:
    """Dashed lines for controls so they read as references even in greyscale print."""
    return "--" if method_kind(method) in ("control", "oracle") else "-"


def method_linewidth(method: str) -> float:
    """Attention methods drawn a little thicker: they are what the figure is about."""
    return 2.4 if method_kind(method) == "attention" else 1.6


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    formats = tuple(f.lower().lstrip(".") for f in formats)
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"figure format(s) {bad or '[]'} not supported; choose from {list(FORMATS)}")
    return formats


def save_figure(fig: plt.Figure, out_dir: Path, stem: str, formats: Sequence[str]) -> list[Path]:
    """Save ``fig`` as ``<out_dir>/<stem>.<fmt>`` for every format (atomically) and close it."""
    paths = []
    try:
        for fmt in formats:
            path = Path(out_dir) / f"{stem}.{fmt}"
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt)
            paths.append(path)
    finally:
        plt.close(fig)
    return paths
