"""Plug-in metrics: one decorated function per metric, scored beside the built-in ones and shown in every table.

A metric is a function of named inputs; it declares which ones it needs and returns one value per clip::

    from stabn_bench.metrics import register_metric

    @register_metric("gini", direction="higher", needs=("map",))
    def gini(map):
        '''Gini coefficient of the map's absolute values (1 = all relevance on one voxel).'''
        ...                                    # map (N, T, H, W) -> (N,)

The inputs a metric may name in ``needs`` (and as parameters; see :data:`INPUTS`):

========== =====================================================================================================
``map``    (N, T, H, W) the method's spatio-temporal map (pooled to cells when ``granularity`` is given)
``temporal`` (N, T) the method's per-frame importance
``mask``   (N, T, H, W) ground-truth evidence mask (the metric is skipped on data without masks)
``window`` (N, T) ground-truth action window (skipped on data without windows)
``model``  the explained model as a function ``clips (N, C, T, H, W) -> logits (N, K)`` (no gradients)
``clips``  (N, C, T, H, W) the ImageNet-normalised clips; ``targets`` (N,) explained classes; ``labels`` (N,)
``engine`` the model's :class:`~stabn_bench.metrics.engine.PerturbationEngine` (batched perturbed forward passes)
``seed``   an int for any random draw; ``config`` the run's :class:`MetricsConfig`
========== =====================================================================================================

``map``, ``temporal``, ``mask``, ``window``, ``targets`` and ``labels`` are on the CPU; ``clips`` are on the
model's device, and ``model`` moves what it is given there. A metric returns a tensor or array of N values.

A metric that needs neither ``map`` nor ``temporal`` is *model-level*: it is computed once per model and clip, and
its rows in ``scores.csv`` carry the method ``-`` (like the frame-order sensitivity).

``granularity`` (optional) pools the map before the metric sees it: ``voxel`` (N, T, H, W), ``tube`` (cells of
``metrics.tube_size``, averaged), ``frame`` (N, T); ``configured`` computes the metric at every granularity of
``metrics.granularities``, the first under its own name and the others as ``<name>_<granularity>``, exactly like
the built-in deletion / insertion scores.

Metrics are loaded from a user's module (``--metrics-module FILE`` / ``metrics.metrics_module``, see
:func:`load_metrics_module`) or from the ``stabn_bench.metrics`` entry-point group of an installed package.
Every registered metric is entered in :mod:`stabn_bench.metrics.catalog` with its direction, so the report, the
statistics and the plots treat it like a built-in score.
"""
from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional

import numpy as np
import torch

from stabn_bench.core import StabnBenchError
from stabn_bench.core import import_user_module, load_entry_points

from . import catalog

log = logging.getLogger("stabn_bench")

#: The inputs a metric function may ask for, by parameter name.
INPUTS = ("map", "temporal", "mask", "window", "model", "clips", "targets", "labels", "engine", "seed", "config")
#: Inputs that make a metric depend on the explanation (otherwise it is a model-level metric).
EXPLANATION_INPUTS = ("map", "temporal")
DIRECTIONS = ("higher", "lower")
#: ``granularity`` values: pool the map to these cells, or ``configured`` = every granularity of the config.
GRANULARITY_CHOICES = (*catalog.GRANULARITIES, "configured")

#: The entry-point group an installed package uses to add metrics (``[project.entry-points."stabn_bench.metrics"]``).
ENTRY_POINT_GROUP = "stabn_bench.metrics"


@dataclass(frozen=True)
class MetricSpec:
    """A registered plug-in metric.

    Attributes:
        name: the metric's name in ``scores.csv``.
        fn: ``fn(**inputs) -> (N,)`` values.
        direction: ``higher`` or ``lower`` (is better).
        needs: the inputs :data:`INPUTS` it is called with, as keyword arguments.
        granularity: None (the map as is), a granularity to pool the map to, or ``configured``.
        family: the table the report lists it in (``faithfulness``, ``temporal``, ``localisation``, ``sanity``,
            ``model`` or any other word: a table of its own).
        source: ``module.function`` that registered it.
    """

    name: str
    fn: Callable[..., Any]
    direction: str
    needs: tuple[str, ...]
    granularity: Optional[str]
    family: str
    description: str
    source: str

    @property
    def model_level(self) -> bool:
        """True when the metric does not look at the explanation (one value per model and clip, method ``-``)."""
        return not set(self.needs) & set(EXPLANATION_INPUTS)

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher"


_REGISTRY: dict[str, MetricSpec] = {}
_entry_points_loaded = False


def register_metric(
    name: str, direction: str = "higher", needs: Iterable[str] = ("map",), granularity: Optional[str] = None,
    family: Optional[str] = None, description: Optional[str] = None,
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

    Returns the function unchanged, so it can still be called directly.
    """
    needs = tuple(needs)
    if direction not in DIRECTIONS:
        raise ValueError(f"metric '{name}': direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
    unknown = [n for n in needs if n not in INPUTS]
    if unknown:
        raise ValueError(f"metric '{name}': unknown input {unknown[0]!r} in needs; valid inputs: {', '.join(INPUTS)}")
    if granularity is not None and granularity not in GRANULARITY_CHOICES:
        raise ValueError(f"metric '{name}': granularity {granularity!r} is not one of None, {', '.join(GRANULARITY_CHOICES)}")
    if granularity is not None and "map" not in needs:
        raise ValueError(f"metric '{name}': a granularity pools the map, so needs must include 'map'")

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(fn):
            raise TypeError(f"register_metric needs a function, got {type(fn).__name__}")
        params = inspect.signature(fn).parameters
        takes_all = any(p.kind is p.VAR_KEYWORD for p in params.values())
        missing = [n for n in needs if n not in params and not takes_all]
        if missing:
            raise TypeError(f"metric '{name}': {fn.__qualname__} does not take the input {missing[0]!r} it needs")
        source = f"{fn.__module__}.{fn.__qualname__}"
        existing = _REGISTRY.get(name)
        if existing is not None and existing.source != source:
            raise ValueError(f"metric name '{name}' is already registered by {existing.source}")
        if existing is None and name in catalog.METRICS and not catalog.METRICS[name].from_results:
            raise ValueError(f"metric name '{name}' is a built-in metric")
        doc = inspect.getdoc(fn) or ""
        text = description or (doc.splitlines()[0] if doc else name)
        spec = MetricSpec(
            name=name, fn=fn, direction=direction, needs=needs, granularity=granularity,
            family=family or _default_family(needs), description=text, source=source,
        )
        _REGISTRY[name] = spec
        catalog.register_metric_info(name, spec.higher_is_better, spec.family, text)
        if granularity == "configured":
            for g in catalog.GRANULARITIES:
                catalog.register_metric_info(catalog.granularity_variant(name, g), spec.higher_is_better, spec.family,
                                             f"{text} ({g} granularity)", variant_of=name)
        return fn

    return decorate


def _default_family(needs: tuple[str, ...]) -> str:
    if {"mask", "window"} & set(needs):
        return "localisation"
    if not set(needs) & set(EXPLANATION_INPUTS):
        return "model"
    return "other"


def unregister_metric(name: str) -> None:
    """Remove a plug-in metric ``name`` (for tests and interactive sessions)."""
    spec = _REGISTRY.pop(name, None)
    if spec is not None:
        catalog.METRICS.pop(name, None)
        for g in catalog.GRANULARITIES:
            catalog.METRICS.pop(catalog.granularity_variant(name, g), None)


def metric_specs() -> list[MetricSpec]:
    """Every registered plug-in metric (entry-point plugins loaded first), in registration order."""
    load_entry_point_metrics()
    return list(_REGISTRY.values())


def get_metric(name: str) -> Optional[MetricSpec]:
    """The plug-in spec of ``name``, or None for a built-in (or unknown) metric."""
    load_entry_point_metrics()
    return _REGISTRY.get(name)


# ---------------------------------------------------------------------- loading


def load_metrics_module(name_or_path: str) -> list[str]:
    """Import a module that registers metrics: a dotted name (``my.metrics``) or a ``.py`` file path.

    Returns the names it registered (sorted). Raises :class:`StabnBenchError` naming the module and why it could
    not be imported.
    """
    before = set(_REGISTRY)
    import_user_module(name_or_path, "metrics", "stabn_bench_user_metrics")
    return sorted(set(_REGISTRY) - before)


def load_entry_point_metrics(force: bool = False) -> list[str]:
    """Import every module of the ``stabn_bench.metrics`` entry-point group (once per process); a plugin that
    fails to import is logged as a warning and skipped."""
    global _entry_points_loaded
    if _entry_points_loaded and not force:
        return []
    _entry_points_loaded = True
    before = set(_REGISTRY)
    load_entry_points(ENTRY_POINT_GROUP, "metric")
    return sorted(set(_REGISTRY) - before)


# ---------------------------------------------------------------------- scoring


def configured_granularity_names() -> list[str]:
    """Plug-in metrics computed at every configured granularity (like ``deletion_auc``)."""
    return [s.name for s in metric_specs() if s.granularity == "configured"]


def compute_plugin_metrics(
    wanted: Iterable[str], inputs: Mapping[str, Any], granularities: Iterable[str] = ("tube",),
    tube_size: Iterable[int] = (2, 8, 8), model_level: bool = False, failures: Optional[dict[str, str]] = None,
) -> dict[str, torch.Tensor]:
    """Values of the wanted plug-in metrics of one kind (per method or model-level) on N clips.

    Args:
        wanted: metric names selected by the config (built-in names are ignored here).
        inputs: the available inputs by name (:data:`INPUTS`); a missing or None input skips the metrics that
            need it.
        granularities: ``metrics.granularities`` (the first gives the un-suffixed name of ``configured`` metrics).
        failures: when given, a metric that raises or returns a wrong value is entered here (name -> one line
            naming it and what went wrong) and left out, and the other metrics are still computed.
    Returns:
        name -> (N,) float64 on the CPU.
    Raises:
        StabnBenchError: (``failures`` None) a metric raised or returned a value of the wrong shape, type or
            length, or complex values (naming the metric).
    """
    from .ordering import cell_relevance

    wanted = set(wanted)
    granularities = list(granularities)
    n = _batch_size(inputs)
    out: dict[str, torch.Tensor] = {}
    for spec in metric_specs():
        if spec.model_level != model_level or any(inputs.get(need) is None for need in spec.needs):
            continue
        if spec.granularity == "configured":
            runs = [(spec.name if i == 0 else catalog.granularity_variant(spec.name, g), g) for i, g in enumerate(granularities)]
        else:
            runs = [(spec.name, spec.granularity)]  # type: ignore[list-item]  # None: used as given
        for name, granularity in runs:
            if name not in wanted:
                continue
            kwargs = {need: inputs[need] for need in spec.needs}
            if granularity is not None:
                kwargs["map"] = cell_relevance(inputs["map"], granularity, list(tube_size))  # type: ignore[arg-type]
            try:
                try:
                    with torch.no_grad():
                        value = spec.fn(**kwargs)
                except Exception as err:
                    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
                    raise StabnBenchError(
                        f"metric '{name}' ({spec.source}) raised {type(err).__name__}: {text}") from err
                out[name] = _as_values(name, value, n)
            except StabnBenchError as err:
                if failures is None:
                    raise
                log.warning("%s; the other metrics are scored", err)
                failures[name] = str(err)
    return out


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
