"""The metric registry: every metric, built in or plug-in, is one entry with its metadata.

A metric is a function of named inputs; it declares which ones it needs and returns one value per clip::

    from stabn_bench.metrics import register_metric

    @register_metric("gini", direction="higher", needs=("map",))
    def gini(map):
        '''Gini coefficient of the map's absolute values (1 = all relevance on one voxel).'''
        ...                                    # map (N, T, H, W) -> (N,)

The inputs a metric may name in ``needs`` (and as parameters; see :data:`INPUTS`):

============== =================================================================================================
``map``        (N, T, H, W) the method's spatio-temporal map (pooled to cells when ``granularity`` is given)
``temporal``   (N, T) the method's per-frame importance
``mask``       (N, T, H, W) ground-truth evidence mask (the metric is skipped on data without masks)
``window``     (N, T) ground-truth action window (skipped on data without windows)
``window_prior`` (T,) or (N, T) the probability that a frame lies in the action window (skipped without one)
``native_shape`` (T', h, w) of the method's raw map before upsampling (the input's (T, H, W) when it has none)
``model``      the explained model as a function ``clips (N, C, T, H, W) -> logits (N, K)`` (no gradients)
``clips``      (N, C, T, H, W) the ImageNet-normalised clips; ``targets`` (N,) explained classes; ``labels`` (N,)
``engine``     the model's :class:`~stabn_bench.metrics.engine.PerturbationEngine` (batched perturbed forward passes)
``seed``       an int for any random draw; ``config`` the run's :class:`MetricsConfig`
============== =================================================================================================

``map``, ``temporal``, ``mask``, ``window``, ``targets`` and ``labels`` are on the CPU; ``clips`` are on the
model's device, and ``model`` moves what it is given there. A metric returns a tensor or array of N values.

A metric that needs neither ``map`` nor ``temporal`` is *model-level*: it is computed once per model and clip, and
its rows in ``scores.csv`` carry the method ``-`` (like the frame-order sensitivity).

``granularity`` (optional) pools the map before the metric sees it: ``voxel`` (N, T, H, W), ``tube`` (cells of
``metrics.tube_size``, averaged), ``frame`` (N, T); ``configured`` computes the metric at every granularity of
``metrics.granularities``, the first under its own name and the others as ``<name>_<granularity>``, exactly like
the built-in deletion / insertion scores.

Every entry carries what the report needs (:class:`MetricSpec`): its direction, family, label, granularity, its
column in the headline tables (``headline``), whether the metric-agreement analysis compares it (``agreement``)
and whether it has a ceiling. :mod:`stabn_bench.metrics.catalog` generates the table of every score name (with
the per-granularity variants and ceilings), the labels and the headline lists from these entries, so a registered
metric reaches every table, statistic and figure.

The built-in metrics are entries of this same registry, declared in :mod:`stabn_bench.metrics.builtin` (in the
order every table lists them); the scorer computes every entry that has a function the same way, built in or
plug-in. Plug-in metrics are loaded from a user's module (``--metrics-module FILE`` / ``metrics.metrics_module``,
see :func:`load_metrics_module`) or from the ``stabn_bench.metrics`` entry-point group of an installed package.
"""
from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional

import numpy as np
import torch

from stabn_bench.core import FAMILIES, Registry, StabnBenchError
from stabn_bench.core import import_user_module, load_entry_points

from .ordering import GRANULARITIES

log = logging.getLogger("stabn_bench")

#: The inputs a metric function may ask for, by parameter name.
INPUTS = ("map", "temporal", "mask", "window", "window_prior", "native_shape", "model", "clips", "targets", "labels",
          "engine", "seed", "config")
#: Inputs that make a metric depend on the explanation (otherwise it is a model-level metric).
EXPLANATION_INPUTS = ("map", "temporal")
DIRECTIONS = ("higher", "lower")
#: ``granularity`` values: pool the map to these cells, or ``configured`` = every granularity of the config.
GRANULARITY_CHOICES = (*GRANULARITIES, "configured")

#: The entry-point group an installed package uses to add metrics (``[project.entry-points."stabn_bench.metrics"]``).
ENTRY_POINT_GROUP = "stabn_bench.metrics"


def granularity_variant(name: str, granularity: str) -> str:
    """Name of a faithfulness metric (or curve) at a granularity other than the configured first one."""
    return f"{name}_{granularity}"


def ceiling_name(name: str) -> str:
    """Name of the ceiling of localisation score ``name``: its value for a perfect map at the method's native
    resolution (the evidence pooled to its grid), printed beside the score; not a score of the method itself."""
    return f"{name}_ceiling"


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric, built in or plug-in.

    Attributes:
        name: the metric's name in ``scores.csv``.
        fn: ``fn(**inputs) -> (N,)`` values; None for a built-in score that shared machinery computes (the
            deletion / insertion curves of :mod:`~stabn_bench.metrics.scoring`, the randomisation and robustness
            tests on model copies): ``source`` names that module.
        direction: ``higher`` or ``lower`` (is better).
        needs: the inputs :data:`INPUTS` it is called with, as keyword arguments.
        granularity: None (the map as is), a granularity to pool the map to, or ``configured``.
        family: the table the report lists it in (one of :data:`stabn_bench.core.FAMILIES`, or any other word for
            a plug-in: a table of its own).
        description: one line for listings and ``plugins.json``.
        source: ``module.function`` that registered it (``module`` for a score computed there).
        label: its human name in figures and paper tables (``Deletion AUC``); None: the name in words.
        headline: its column in the headline tables (1 = first), or None.
        agreement: True when the metric-agreement analysis compares it with the others.
        ceiling: True when ``<name>_ceiling`` (its value for a perfect map at the method's native resolution) is
            scored beside it.
        builtin: True for the project's own metrics (:mod:`stabn_bench.metrics.builtin`).
    """

    name: str
    fn: Optional[Callable[..., Any]]
    direction: str
    needs: tuple[str, ...]
    granularity: Optional[str]
    family: str
    description: str
    source: str
    label: Optional[str] = None
    headline: Optional[int] = None
    agreement: bool = False
    ceiling: bool = False
    builtin: bool = False

    @property
    def model_level(self) -> bool:
        """True when the metric does not look at the explanation (one value per model and clip, method ``-``)."""
        return not set(self.needs) & set(EXPLANATION_INPUTS)

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher"

    def variants(self) -> list[str]:
        """The names of its per-granularity variants (``configured`` granularity), else none."""
        return [granularity_variant(self.name, g) for g in GRANULARITIES] if self.granularity == "configured" else []

    def derived_names(self) -> list[str]:
        """Every other name it writes to ``scores.csv``: its variants and its ceiling."""
        return [*self.variants(), *([ceiling_name(self.name)] if self.ceiling else [])]

    def metadata(self) -> dict[str, Any]:
        """What a listing shows (:meth:`stabn_bench.core.Registry.describe`)."""
        return dict(direction=self.direction, family=self.family, label=self.label, granularity=self.granularity,
                    headline=self.headline, agreement=self.agreement, ceiling=self.ceiling, needs=self.needs,
                    builtin=self.builtin, description=self.description)


#: every metric, built in (first, :mod:`stabn_bench.metrics.builtin`) and plug-in, in registration order
REGISTRY: Registry[MetricSpec] = Registry("metric")
_entry_points_loaded = False


def register_metric(
    name: str, direction: str = "higher", needs: Iterable[str] = ("map",), granularity: Optional[str] = None,
    family: Optional[str] = None, description: Optional[str] = None, *, label: Optional[str] = None,
    headline: Optional[int] = None, agreement: bool = False, ceiling: bool = False, builtin: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register ``fn(**inputs) -> (N,) values`` as the metric ``name`` (see the module docstring).

    Args:
        name: the metric's name in ``scores.csv`` and on the command line (``metrics.metrics=[name]``).
        direction: ``higher`` or ``lower`` is better.
        needs: the inputs the function takes (names from :data:`INPUTS`); it is skipped where one is missing
            (e.g. ``mask`` on data without ground truth).
        granularity: None, ``voxel``, ``tube``, ``frame`` or ``configured`` (see the module docstring).
        family: the report table it goes in; default ``localisation`` when it needs a mask or window,
            ``model`` for a model-level metric, else ``other``.
        description: one line for the listing; default the first line of the function's docstring.
        label: its human name in figures and paper tables; default the name in words.
        headline: its column in the headline tables (1 = first; a column another metric holds is refused).
        agreement: compare its method ranking with the other metrics' (``metric_agreement.csv``).
        ceiling: also score ``<name>_ceiling``: the function on a perfect map at the method's native resolution
            (the evidence pooled to ``native_shape``; the window for the per-frame importance).
        builtin: for the project's own metrics (:mod:`stabn_bench.metrics.builtin`): listed before the plug-ins,
            not written to a run's ``plugins.json``, and their errors stop the scoring instead of being listed.

    Returns the function unchanged, so it can still be called directly. A name that another module registered
    (a built-in metric's, or one of its per-granularity variants or ceiling) is a ValueError.
    """
    needs = tuple(needs)
    _check(name, direction, needs, granularity, family, headline, builtin)

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(fn):
            raise TypeError(f"register_metric needs a function, got {type(fn).__name__}")
        params = inspect.signature(fn).parameters
        takes_all = any(p.kind is p.VAR_KEYWORD for p in params.values())
        missing = [n for n in needs if n not in params and not takes_all]
        if missing:
            raise TypeError(f"metric '{name}': {fn.__qualname__} does not take the input {missing[0]!r} it needs")
        doc = inspect.getdoc(fn) or ""
        _add(MetricSpec(
            name=name, fn=fn, direction=direction, needs=needs, granularity=granularity,
            family=family or _default_family(needs), description=description or (doc.splitlines()[0] if doc else name),
            source=f"{fn.__module__}.{fn.__qualname__}", label=label, headline=headline, agreement=agreement,
            ceiling=ceiling, builtin=builtin,
        ))
        return fn

    return decorate


def declare_metric(
    name: str, direction: str, family: str, description: str, *, needs: Iterable[str], computed_by: str,
    granularity: Optional[str] = None, label: Optional[str] = None, headline: Optional[int] = None,
    agreement: bool = False, ceiling: bool = False,
) -> MetricSpec:
    """Register a built-in score that shared machinery computes rather than a function of the inputs (the
    deletion / insertion curves of the scorer, the randomisation and robustness tests on copies of the model):
    its metadata, as :func:`register_metric` takes it; ``computed_by`` names the module that computes it."""
    needs = tuple(needs)
    _check(name, direction, needs, granularity, family, headline, builtin=True)
    spec = MetricSpec(name=name, fn=None, direction=direction, needs=needs, granularity=granularity, family=family,
                      description=description, source=computed_by, label=label, headline=headline,
                      agreement=agreement, ceiling=ceiling, builtin=True)
    _add(spec)
    return spec


def _check(name: str, direction: str, needs: tuple[str, ...], granularity: Optional[str], family: Optional[str],
           headline: Optional[int], builtin: bool) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"metric '{name}': direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
    unknown = [n for n in needs if n not in INPUTS]
    if unknown:
        raise ValueError(f"metric '{name}': unknown input {unknown[0]!r} in needs; valid inputs: {', '.join(INPUTS)}")
    if granularity is not None and granularity not in GRANULARITY_CHOICES:
        raise ValueError(f"metric '{name}': granularity {granularity!r} is not one of None, {', '.join(GRANULARITY_CHOICES)}")
    if granularity is not None and "map" not in needs:
        raise ValueError(f"metric '{name}': a granularity pools the map, so needs must include 'map'")
    if builtin and family not in FAMILIES:
        raise ValueError(f"built-in metric '{name}': family {family!r} is not one of {', '.join(FAMILIES)}")
    if headline is not None and (isinstance(headline, bool) or not isinstance(headline, int) or headline < 1):
        raise ValueError(f"metric '{name}': headline {headline!r} is not a column number (1, 2, ...)")


def _add(spec: MetricSpec) -> None:
    """Enter ``spec`` in :data:`REGISTRY`; a name (or derived name, or headline column) that another source holds
    is a ValueError (one line naming it)."""
    existing = REGISTRY.find(spec.name)
    if existing is not None and existing.source != spec.source and existing.builtin:
        raise ValueError(f"metric name '{spec.name}' is a built-in metric ({existing.source}); choose another name")
    new_names = {spec.name, *spec.derived_names()}
    for other in REGISTRY.objects():
        if other.name == spec.name:
            continue
        if spec.headline is not None and other.headline == spec.headline:
            raise ValueError(f"metric '{spec.name}': headline column {spec.headline} is taken by '{other.name}'")
        taken = new_names & {other.name, *other.derived_names()}
        if taken:
            clash = sorted(taken)[0]
            owner = "a built-in metric" if other.builtin else f"a name of metric '{other.name}' ({other.source})"
            raise ValueError(f"metric name '{clash}' is {owner}; choose another name")
    REGISTRY.register(spec.name, spec, source=spec.source, **spec.metadata())


def _default_family(needs: tuple[str, ...]) -> str:
    if {"mask", "window"} & set(needs):
        return "localisation"
    if not set(needs) & set(EXPLANATION_INPUTS):
        return "model"
    return "other"


def unregister_metric(name: str) -> None:
    """Remove the metric ``name`` (for tests and interactive sessions)."""
    REGISTRY.unregister(name)


def metric_specs() -> list[MetricSpec]:
    """Every registered metric, built in and plug-in (entry-point plugins loaded first), in registration order."""
    load_entry_point_metrics()
    return REGISTRY.objects()


def get_metric(name: str) -> Optional[MetricSpec]:
    """The spec of the registered metric ``name`` (built in or plug-in), or None (a per-granularity variant, a
    ceiling or an unknown name)."""
    load_entry_point_metrics()
    return REGISTRY.find(name)


# ---------------------------------------------------------------------- loading


def load_metrics_module(name_or_path: str) -> list[str]:
    """Import a module that registers metrics: a dotted name (``my.metrics``) or a ``.py`` file path.

    Returns the names it registered (sorted). Raises :class:`StabnBenchError` naming the module and why it could
    not be imported.
    """
    before = set(REGISTRY)
    import_user_module(name_or_path, "metrics", "stabn_bench_user_metrics")
    return sorted(set(REGISTRY) - before)


def load_entry_point_metrics(force: bool = False) -> list[str]:
    """Import every module of the ``stabn_bench.metrics`` entry-point group (once per process); a plugin that
    fails to import is logged as a warning and skipped."""
    global _entry_points_loaded
    if _entry_points_loaded and not force:
        return []
    _entry_points_loaded = True
    before = set(REGISTRY)
    load_entry_points(ENTRY_POINT_GROUP, "metric")
    return sorted(set(REGISTRY) - before)


# ---------------------------------------------------------------------- scoring


def configured_granularity_names() -> list[str]:
    """Metrics computed at every configured granularity (like ``deletion_auc``), built in and plug-in."""
    return [s.name for s in metric_specs() if s.granularity == "configured"]


def compute_metrics(
    wanted: Iterable[str], inputs: Mapping[str, Any], granularities: Iterable[str] = ("tube",),
    tube_size: Iterable[int] = (2, 8, 8), model_level: bool = False, failures: Optional[dict[str, str]] = None,
    ceiling_inputs: Optional[Mapping[str, Any]] = None,
) -> dict[str, torch.Tensor]:
    """Values of the wanted metrics that have a function (built in and plug-in alike), of one kind (per method
    or model-level), on N clips, in registration order.

    Args:
        wanted: metric names selected by the config (names without a function here are ignored).
        inputs: the available inputs by name (:data:`INPUTS`); a missing or None input skips the metrics that
            need it.
        granularities: ``metrics.granularities`` (the first gives the un-suffixed name of ``configured`` metrics).
        failures: when given, a plug-in metric that raises or returns a wrong value is entered here (name -> one
            line naming it and what went wrong) and left out, and the other metrics are still computed.
        ceiling_inputs: the inputs of a perfect map (``map``: the evidence at the method's native grid,
            ``temporal``: the window at its native frames), replacing those of ``inputs`` for the wanted ceilings
            (``<name>_ceiling``) of metrics registered with ``ceiling=True``.
    Returns:
        name -> (N,) float64 on the CPU.
    Raises:
        StabnBenchError: a plug-in metric raised (``failures`` None) or any metric returned a value of the wrong
            shape, type or length, or complex values (naming the metric). A built-in metric's own error is raised
            as it is.
    """
    from .ordering import cell_relevance

    wanted = set(wanted)
    granularities = list(granularities)
    n = _batch_size(inputs)
    out: dict[str, torch.Tensor] = {}
    for spec in metric_specs():
        if spec.fn is None or spec.model_level != model_level:
            continue
        runs: list[tuple[str, Optional[str], Mapping[str, Any]]]
        if spec.granularity == "configured":
            runs = [(spec.name if i == 0 else granularity_variant(spec.name, g), g, inputs)
                    for i, g in enumerate(granularities)]
        else:
            runs = [(spec.name, spec.granularity, inputs)]
        if spec.ceiling and ceiling_inputs is not None:
            runs.append((ceiling_name(spec.name), spec.granularity, {**inputs, **ceiling_inputs}))
        for name, granularity, given in runs:
            if name not in wanted or any(given.get(need) is None for need in spec.needs):
                continue
            kwargs = {need: given[need] for need in spec.needs}
            if granularity is not None and granularity != "configured":
                kwargs["map"] = cell_relevance(given["map"], granularity, list(tube_size))  # type: ignore[arg-type]
            try:
                out[name] = _as_values(name, _call(spec, name, kwargs), n)
            except StabnBenchError as err:
                if failures is None or spec.builtin:
                    raise
                log.warning("%s; the other metrics are scored", err)
                failures[name] = str(err)
    return out


def _call(spec: MetricSpec, name: str, kwargs: dict[str, Any]) -> Any:
    """``spec.fn(**kwargs)`` without gradients; a plug-in's error becomes one line naming the metric."""
    assert spec.fn is not None
    with torch.no_grad():
        if spec.builtin:
            return spec.fn(**kwargs)
        try:
            return spec.fn(**kwargs)
        except Exception as err:
            text = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise StabnBenchError(f"metric '{name}' ({spec.source}) raised {type(err).__name__}: {text}") from err


def _batch_size(inputs: Mapping[str, Any]) -> Optional[int]:
    for key in ("map", "temporal", "clips", "targets"):
        value = inputs.get(key)
        if value is not None:
            return int(value.shape[0])
    return None


def _as_values(name: str, value: Any, n: Optional[int]) -> torch.Tensor:
    """A metric's return value as (N,) float64 on the CPU; a wrong shape raises naming the metric."""
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise StabnBenchError(f"metric '{name}' returned complex values ({value.dtype}); expected real numbers")
        tensor = value.detach().double().cpu()
    else:
        try:
            array = np.asarray(value)
            if np.iscomplexobj(array):
                raise StabnBenchError(f"metric '{name}' returned complex values ({array.dtype}); expected real numbers")
            tensor = torch.as_tensor(array.astype(np.float64))
        except (TypeError, ValueError) as err:
            raise StabnBenchError(f"metric '{name}' returned {type(value).__name__}, not numbers "
                                  f"({str(err)[:80]}); expected one value per clip") from None
    if n is not None and tensor.dim() == 0 and n == 1:
        tensor = tensor.reshape(1)
    if tensor.dim() != 1 or (n is not None and tensor.shape[0] != n):
        raise StabnBenchError(f"metric '{name}' returned shape {tuple(tensor.shape)}; expected one value per clip ({n},)")
    return tensor
