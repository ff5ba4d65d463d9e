"""One look for every figure: print sizes, fonts, metric labels, and one (colour, marker, line style) per method.

Methods are grouped by the kind their registry entry declares (:data:`stabn_bench.baselines.KINDS`; names the
registry does not know are of kind ``other``). Each method gets a *slot*, a (colour, marker) pair from the
colour-blind-safe Okabe-Ito palette (plus grey) and eight markers; the line style follows the kind (controls dashed,
oracles dash-dotted). Built-in methods have pinned slots; any other name gets the first free slot from a hash of its
kind and name, so a method looks the same in every figure and every run whatever else is drawn beside it (two
unknown names whose hashes collide are resolved in sorted order). 9 colours x 8 markers = 72 slots.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import matplotlib
import numpy as np

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from stabn_bench.metrics.catalog import GRANULARITIES, METRICS, metric_labels

from ..runtime import atomic_path, atomic_write_text
from .files import FIGURE_FORMATS as FORMATS
from .groups import KIND_ORDER

#: figure widths in inches for a two-column paper
SINGLE_COLUMN = 3.3
DOUBLE_COLUMN = 6.9
#: the smallest font size (pt) any text of a figure uses at its saved size
MIN_FONT_PT = 7
BASE_FONT_PT = 8

#: Okabe & Ito (2008) colour-blind-safe palette, then black and grey (used by controls and oracles)
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000", "#8C8C8C")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
BLACK, GREY = 7, 8
#: the order families (method kinds) are listed and drawn in; ``other`` = a method the registry does not know
FAMILY_ORDER = KIND_ORDER
#: kinds drawn in every family panel as references
REFERENCE_KINDS = ("control", "oracle")
LINESTYLES = {"control": (0, (4, 2)), "oracle": (0, (5, 1.5, 1, 1.5))}
#: the random-order reference curve (not a method): a plain dotted black line
REFERENCE_STYLE: dict[str, Any] = dict(color="#000000", linestyle=":", lw=1.3, label="random order")

#: (colour index, marker index) of the built-in methods; every pair differs
PINNED: dict[str, tuple[int, int]] = {
    "stabn-attention": (1, 0), "stabn-spatial": (0, 1), "stabn-temporal": (2, 2),
    "gradcam": (4, 3), "guided-gradcam": (3, 4),
    "saliency": (0, 5), "input-x-gradient": (1, 6), "guided-backprop": (2, 7), "integrated-gradients": (5, 0),
    "smoothgrad": (3, 1),
    "occlusion": (4, 4), "feature-ablation": (0, 3),
    "random": (BLACK, 0), "centre-prior": (GREY, 1), "motion": (BLACK, 5), "uniform": (GREY, 7),
    "oracle": (BLACK, 3), "inverse-oracle": (GREY, 6),
}
_ALL_SLOTS = [(c, m) for m in range(len(MARKERS)) for c in range(len(COLOURS))]
_FREE_SLOTS = [s for s in _ALL_SLOTS if s not in set(PINNED.values())]

FAMILY_LABELS = {"attention": "ST-ABN / ABN attention", "cam": "CAM", "gradient": "Gradient",
                 "perturbation": "Perturbation", "control": "Controls", "oracle": "Oracle", "other": "Other"}

_style_applied = False


def apply_style() -> None:
    """Matplotlib defaults once per process: print-size fonts (>= 7 pt), thin lines, fonts embedded as TrueType."""
    global _style_applied
    if _style_applied:
        return
    for name in ("matplotlib", "PIL", "fontTools"):  # their INFO / DEBUG chatter is not the project's
        logging.getLogger(name).setLevel(max(logging.getLogger(name).level, logging.WARNING))
    plt.rcParams.update({
        "font.size": BASE_FONT_PT, "axes.labelsize": BASE_FONT_PT, "axes.titlesize": BASE_FONT_PT,
        "xtick.labelsize": MIN_FONT_PT, "ytick.labelsize": MIN_FONT_PT, "legend.fontsize": MIN_FONT_PT,
        "legend.title_fontsize": BASE_FONT_PT, "figure.titlesize": BASE_FONT_PT,
        "axes.grid": True, "grid.color": "#e6e6e6", "grid.linewidth": 0.5, "axes.edgecolor": "#4d4d4d",
        "axes.linewidth": 0.6, "axes.spines.top": False, "axes.spines.right": False,
        "xtick.major.width": 0.6, "ytick.major.width": 0.6, "xtick.major.size": 2.5, "ytick.major.size": 2.5,
        "lines.linewidth": 1.2, "lines.markersize": 3.5, "legend.frameon": False,
        "figure.dpi": 100, "savefig.dpi": 200, "savefig.bbox": None,
        "pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none",
    })
    _style_applied = True


# ---------------------------------------------------------------- methods


def method_kind(method: str) -> str:
    """The kind the registry declares for ``method``; ``other`` for a name the registry does not know."""
    from .groups import method_kind as registered_kind

    return registered_kind(method)


def family_rank(kind: str) -> int:
    return FAMILY_ORDER.index(kind) if kind in FAMILY_ORDER else len(FAMILY_ORDER)


def family_order(methods: Iterable[str]) -> list[str]:
    """Methods grouped by family (:data:`FAMILY_ORDER`), in :func:`~.groups.method_order` within a family."""
    from .groups import method_order

    ordered = method_order(methods)
    return sorted(ordered, key=lambda m: (family_rank(method_kind(m)), ordered.index(m)))


@dataclass(frozen=True)
class MethodStyle:
    colour: str
    marker: str
    linestyle: object
    linewidth: float

    def line_kwargs(self) -> dict:
        return dict(color=self.colour, marker=self.marker, linestyle=self.linestyle, lw=self.linewidth)


def _hash_slot(method: str, kind: str) -> int:
    digest = hashlib.sha1(f"{kind}:{method}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % len(_FREE_SLOTS)


def method_styles(methods: Iterable[str]) -> dict[str, MethodStyle]:
    """Method -> :class:`MethodStyle`; every (colour, marker, line style) of the result differs (module docstring)."""
    taken = set()
    slots: dict[str, tuple[int, int]] = {}
    names = sorted(set(methods))
    for method in names:
        if method in PINNED:
            slots[method] = PINNED[method]
            taken.add(PINNED[method])
    for method in names:
        if method in slots:
            continue
        start = _hash_slot(method, method_kind(method))
        for k in range(len(_FREE_SLOTS)):
            slot = _FREE_SLOTS[(start + k) % len(_FREE_SLOTS)]
            if slot not in taken:
                break
        else:  # more than 72 methods: reuse, distinguished by the line style only
            slot = _FREE_SLOTS[start]
        slots[method] = slot
        taken.add(slot)
    out = {}
    for method, (c, m) in slots.items():
        kind = method_kind(method)
        out[method] = MethodStyle(COLOURS[c], MARKERS[m], LINESTYLES.get(kind, "-"), 1.6 if kind == "attention" else 1.1)
    return out


# ---------------------------------------------------------------- metrics


#: percentiles of a clip's map values that the overlay colour scale spans (values outside are clipped)
OVERLAY_PERCENTILES = (1.0, 99.0)


def robust_normalise(values: np.ndarray, percentiles: tuple[float, float] = OVERLAY_PERCENTILES) -> np.ndarray:
    """A map (T, H, W) to [0, 1] over the whole clip by robust percentile normalisation: the ``percentiles`` (1st and
    99th) of its values map to 0 and 1, values beyond are clipped.

    Min-max normalisation lets a few extreme voxels (common in gradient maps) set the scale, so the rest of the map
    is nearly black; clipping the outer percentiles is the usual remedy (Captum's ``visualize_image_attr`` clips the
    top 2 % of |values|, ``outlier_perc=2``). Where the percentiles coincide (a map that is flat on more than 98 %
    of the clip), the clip's maximum is the top of the scale, so a small bright region still shows; a constant map
    becomes 0. NaN stays NaN.
    """
    values = np.asarray(values, dtype=np.float32)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros_like(values)
    low, high = (float(v) for v in np.percentile(finite, percentiles))
    if high <= low:
        high = float(finite.max())
    if high <= low:
        return np.where(np.isnan(values), np.nan, 0.0).astype(np.float32)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def metric_label(metric: str, arrow: bool = True) -> str:
    """``"deletion_auc_voxel"`` -> ``"Deletion AUC (voxel) ↓"``: the label the metric registered (else its name in
    words) and the catalog's arrow."""
    labels = metric_labels()
    base, granularity = metric, None
    for g in GRANULARITIES:
        if metric.endswith(f"_{g}") and metric[: -len(g) - 1] in labels:
            base, granularity = metric[: -len(g) - 1], g
    name = labels.get(base) or base.replace("_", " ").capitalize()
    if granularity:
        name += f" ({granularity})"
    info = METRICS.get(metric)
    return f"{name} {info.arrow}" if arrow and info else name


# ---------------------------------------------------------------- saving


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    formats = tuple(f.lower().lstrip(".") for f in formats)
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"figure format(s) {bad or '[]'} not supported; choose from {list(FORMATS)}")
    return formats


def check_fonts(fig: plt.Figure, minimum: float = MIN_FONT_PT) -> list[str]:
    """The visible texts of ``fig`` smaller than ``minimum`` pt at the figure's size (empty when all are fine)."""
    small = []
    for text in fig.findobj(matplotlib.text.Text):
        if text.get_visible() and text.get_text().strip() and float(text.get_fontsize()) < minimum:
            small.append(f"{text.get_text()!r} at {text.get_fontsize():.1f} pt")
    return small


def save_figure(fig: plt.Figure, out_dir: Path, stem: str, formats: Sequence[str], caption: str = "") -> list[Path]:
    """Save ``fig`` as ``<out_dir>/<stem>.<fmt>`` for every format (atomically), its caption as ``<stem>.txt``
    beside it (figures carry no titles), and close it. Returns the figure files."""
    paths = []
    try:
        for fmt in formats:
            path = Path(out_dir) / f"{stem}.{fmt}"
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt)
            paths.append(path)
        if caption:
            atomic_write_text(Path(out_dir) / f"{stem}.txt", caption.strip() + "\n")
    finally:
        plt.close(fig)
    return paths
