"""The names of every score the benchmark writes to ``scores.csv`` / ``curves.csv``, and which direction is better:
generated from the metric registry (:mod:`stabn_bench.metrics.registry`), never written by hand.

:data:`METRICS` lists, in the order every table uses: the built-in metrics (:mod:`stabn_bench.metrics.builtin`, in
their declaration order), the ceilings of the built-in localisation scores, the per-granularity variants of the
built-in faithfulness scores, then every plug-in metric followed by its variants and ceiling, and last the names a
results folder's ``plugins.json`` describes (``from_results``: their direction only, for the report). It is a live
view: registering or removing a metric changes it. :func:`metric_labels`, :func:`headline_metrics` and
:func:`agreement_metrics` are the labels of figures and tables and the metric lists of the headline tables and the
metric-agreement analysis, read from the same entries.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from stabn_bench.core import FAMILIES

from . import builtin as _builtin  # noqa: F401  (the built-in metrics register on import)
from .registry import GRANULARITIES, REGISTRY, MetricSpec, ceiling_name, granularity_variant

__all__ = [
    "CURVES", "GRANULARITIES", "METRICS", "RESULT_METRICS", "MetricInfo", "add_result_metric", "agreement_metrics",
    "ceiling_name", "ceilings", "granularity_variant", "headline_metrics", "metric_labels", "per_granularity",
    "selectable_metric_names",
]


@dataclass(frozen=True)
class MetricInfo:
    """One name of ``scores.csv``: a registered metric, one of its per-granularity variants or its ceiling."""

    name: str
    higher_is_better: bool
    family: str  # one of stabn_bench.core.FAMILIES (plug-ins: any word, default "other")
    description: str
    #: for a per-granularity variant (``deletion_auc_voxel``): the metric it is a variant of
    variant_of: str | None = None
    #: True for a name read from a results folder's ``plugins.json`` (its direction only, for the report): it
    #: cannot be selected in a config, and a plug-in of the same name registers over it
    from_results: bool = False

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"


#: Curve names in ``curves.csv`` (x = fraction of the input actually changed, y = target probability).
#: MoRF curves carry the plain name; ``_lerf`` = least relevant first; ``_random`` = random order (the same
#: for every method of a model). Curves at a granularity other than the configured first one end in
#: ``_<granularity>`` (e.g. ``deletion_voxel``).
CURVES = (
    "deletion", "insertion", "frame_deletion", "frame_insertion",
    "deletion_lerf", "deletion_random", "insertion_random", "frame_deletion_random", "frame_insertion_random",
)

#: names read from results folders (``plugins.json``) that no registered metric has: name -> its row
RESULT_METRICS: dict[str, MetricInfo] = {}


def add_result_metric(name: str, higher_is_better: bool, family: str, description: str,
                      variant_of: str | None = None) -> MetricInfo:
    """Enter a name a results folder describes (``plugins.json``) for the report; a registered metric of the same
    name keeps its own entry."""
    info = MetricInfo(name, higher_is_better, family, description, variant_of, from_results=True)
    RESULT_METRICS[name] = info
    return info


def _rows(spec: MetricSpec) -> list[MetricInfo]:
    """The metric's own row and those of its per-granularity variants."""
    rows = [MetricInfo(spec.name, spec.higher_is_better, spec.family, spec.description)]
    rows += [MetricInfo(granularity_variant(spec.name, g), spec.higher_is_better, spec.family,
                        f"{spec.description} ({g} granularity)", variant_of=spec.name) for g in GRANULARITIES
             if spec.granularity == "configured"]
    return rows


def _ceiling_row(spec: MetricSpec) -> MetricInfo:
    return MetricInfo(ceiling_name(spec.name), spec.higher_is_better, spec.family,
                      f"ceiling of {spec.name}: its value for a perfect map at the method's native resolution "
                      "(not a score of the method)")


def _build() -> dict[str, MetricInfo]:
    specs = REGISTRY.objects()
    builtin = [s for s in specs if s.builtin]
    table: dict[str, MetricInfo] = {}
    for spec in builtin:
        table[spec.name] = _rows(spec)[0]
    for spec in builtin:
        if spec.ceiling:
            table[ceiling_name(spec.name)] = _ceiling_row(spec)
    for spec in builtin:
        table.update((row.name, row) for row in _rows(spec)[1:])
    for spec in specs:
        if not spec.builtin:
            table.update((row.name, row) for row in _rows(spec))
            if spec.ceiling:
                table[ceiling_name(spec.name)] = _ceiling_row(spec)
    for name, info in RESULT_METRICS.items():
        table.setdefault(name, info)
    return table


class _Catalog(Mapping[str, MetricInfo]):
    """name -> :class:`MetricInfo`, rebuilt from the registry (and :data:`RESULT_METRICS`) when either changed."""

    def __init__(self) -> None:
        self._key: object = None
        self._table: dict[str, MetricInfo] = {}

    def _current(self) -> dict[str, MetricInfo]:
        key = (REGISTRY.version, tuple(RESULT_METRICS.items()))
        if key != self._key:
            self._table, self._key = _build(), key
        return self._table

    def __getitem__(self, name: str) -> MetricInfo:
        return self._current()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._current()))

    def __len__(self) -> int:
        return len(self._current())

    def __contains__(self, name: object) -> bool:
        return name in self._current()

    def __repr__(self) -> str:
        return f"METRICS({list(self._current())})"


#: every name of ``scores.csv`` -> its :class:`MetricInfo` (module docstring), generated from the registry
METRICS: Mapping[str, MetricInfo] = _Catalog()


def per_granularity() -> tuple[str, ...]:
    """The built-in metrics computed at every configured granularity (``deletion_auc``, ...): their variants are
    listed as ``<name>_<granularity>`` tables of their own."""
    return tuple(s.name for s in REGISTRY.objects() if s.builtin and s.granularity == "configured")


def ceilings() -> tuple[str, ...]:
    """The metrics scored with a ceiling (``<name>_ceiling``)."""
    return tuple(s.name for s in REGISTRY.objects() if s.ceiling)


def metric_labels() -> dict[str, str]:
    """name -> human label of every registered metric that declares one (``deletion_auc`` -> ``Deletion AUC``)."""
    return {s.name: s.label for s in REGISTRY.objects() if s.label}


def headline_metrics() -> list[str]:
    """The metrics of the headline tables (terminal summary, README, ``headline-<model>.tex``), in their columns'
    order."""
    chosen = [s for s in REGISTRY.objects() if s.headline is not None]
    return [s.name for s in sorted(chosen, key=lambda s: s.headline or 0)]


def agreement_metrics() -> list[str]:
    """The metrics the metric-agreement analysis compares, one per question a reader asks: by family
    (:data:`stabn_bench.core.FAMILIES`, others last), in catalog order within a family."""
    chosen = [s for s in REGISTRY.objects() if s.agreement]
    order = {name: i for i, name in enumerate(METRICS)}
    rank = {family: i for i, family in enumerate(FAMILIES)}
    return [s.name for s in sorted(chosen, key=lambda s: (rank.get(s.family, len(FAMILIES)), order[s.name]))]


def selectable_metric_names() -> list[str]:
    """Names that ``metrics.metrics`` may list: every metric and ceiling except the per-granularity variants (those
    follow ``metrics.granularities``) and the names only a results folder describes."""
    return [name for name, info in METRICS.items() if info.variant_of is None and not info.from_results]
