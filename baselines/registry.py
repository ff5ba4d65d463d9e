"""The registry of explanation methods: the only place that knows every method name.

A method is registered with :func:`register_method` on either

* a function ``fn(model, clips, targets, **options) -> raw map``, or
* a class whose constructor takes the model and whose one verb is ``attribute(clips, targets, **options)``.

``clips`` is (N, C, T, H, W) on the model's device, ``targets`` is (N,) int64. The raw map may be
(N, C', T', h, w) (channels are reduced), (N, T', h, w) (upsampled) or (N, T) (broadcast over space);
:mod:`stabn_bench.baselines.postprocess` turns it into the (N, T, H, W) map of an :class:`~baselines.explanation.Explanation`.
Keyword options the method accepts, with their defaults, are read from its signature.

Methods from outside this project come from a user's module (``--methods-module``, :func:`load_methods_module`) or
the ``stabn_bench.methods`` entry-point group of an installed package (:func:`load_entry_point_methods`); importing
the module runs its ``@register_method`` decorators. :data:`METHODS` is a :class:`stabn_bench.core.Registry`, the
same mechanism as the metrics' and the models'.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Union

import torch

from stabn_bench.core import KINDS  # the kinds (families) a method declares, in the order reports list them
from stabn_bench.core import Registry, did_you_mean, import_user_module, load_entry_points

from .errors import MethodError

#: ``models=ALL``: the method applies to every model (it needs only ``model(clips).logits``).
ALL = "all"

#: The cost classes a method declares, cheapest first.
COSTS = ("free", "one-backward", "many-forwards")


#: Options every method may accept by naming them in its signature; :func:`baselines.explain` fills them in.
SHARED_OPTIONS = ("batch_size",)

#: Ground truth a method may ask for by naming it as a keyword parameter (oracle controls, placement priors):
#: ``evidence`` (N, T, H, W) in {0, 1}, ``action_window`` (N, T) in {0, 1}, ``window_prior`` (T,) the probability that
#: a frame lies in the action window. A parameter without a default is required (the method is skipped on data
#: without ground truth); one defaulting to None is passed when the data has it.
GROUND_TRUTH_INPUTS = ("evidence", "action_window", "window_prior")

MethodFn = Callable[..., Union[torch.Tensor, "RawAttribution"]]


@dataclass
class RawAttribution:
    """What a method returns when it has a native per-frame importance (e.g. ST-ABN's M_t).

    Attributes:
        map: the raw map, any shape accepted by :func:`baselines.postprocess.to_input_resolution`.
        temporal: (N, T) native per-frame importance, or None for the per-frame sum of the map.
    """

    map: torch.Tensor
    temporal: torch.Tensor | None = None


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: its callable, the models it applies to, its cost class and its kind (family)."""

    name: str
    fn: MethodFn
    models: tuple[str, ...] | str
    cost: str
    kind: str
    source: str
    description: str
    defaults: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    accepts_any_option: bool = False
    #: ground truth the method requires (see :data:`GROUND_TRUTH_INPUTS`)
    needs: tuple[str, ...] = ()
    #: ground truth the method uses when the data has it
    uses: tuple[str, ...] = ()

    def applies_to(self, model_arch: str | None) -> bool:
        return model_arch is None or self.models == ALL or model_arch in self.models

    @property
    def models_text(self) -> str:
        return ALL if self.models == ALL else ",".join(self.models)


#: every registered method, in registration order (metadata: kind, models, cost, description)
METHODS: Registry[MethodSpec] = Registry("method")

#: The entry-point group an installed package uses to add explanation methods, e.g. in its pyproject.toml:
#: ``[project.entry-points."stabn_bench.methods"] my_methods = "my_package.methods"``
ENTRY_POINT_GROUP = "stabn_bench.methods"

_entry_points_loaded = False


def _option_defaults(signature: inspect.Signature, skip: int) -> tuple[dict[str, Any], bool]:
    params = list(signature.parameters.values())[skip:]
    defaults = {p.name: p.default for p in params
                if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is not p.empty
                and p.name not in GROUND_TRUTH_INPUTS}
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in params)
    return defaults, accepts_any


def _ground_truth_inputs(obj: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required, optional) ground-truth parameters named in the signature of a method (or its ``attribute``)."""
    target = getattr(obj, "attribute") if inspect.isclass(obj) else obj  # noqa: B009  (obj: a method class)
    params = inspect.signature(target).parameters.values()
    named = [p for p in params if p.name in GROUND_TRUTH_INPUTS]
    return (tuple(p.name for p in named if p.default is p.empty),
            tuple(p.name for p in named if p.default is not p.empty))


def _as_function(obj: Any) -> tuple[MethodFn, dict[str, Any], bool]:
    """A registered object as ``fn(model, clips, targets, **options)`` plus its option defaults."""
    if inspect.isclass(obj):
        attribute = getattr(obj, "attribute", None)
        if not callable(attribute):
            raise TypeError(f"method class {obj.__qualname__} must define attribute(self, clips, targets, **options)")
        defaults, accepts_any = _option_defaults(inspect.signature(attribute), skip=3)

        def run_class(model, clips, targets, **options):
            return obj(model).attribute(clips, targets, **options)

        run_class.__name__ = obj.__name__
        return run_class, defaults, accepts_any
    if callable(obj):
        defaults, accepts_any = _option_defaults(inspect.signature(obj), skip=3)
        return obj, defaults, accepts_any
    raise TypeError(f"register_method needs a function or a class, got {type(obj).__name__}")


def register_method(
    name: str, models: Iterable[str] | str = ALL, cost: str = "one-backward", kind: str = "gradient",
) -> Callable[[Any], Any]:
    """Decorator: register a function or class as the explanation method ``name``.

    Args:
        name: the method's name on the command line and in ``scores.csv`` (lower-case, hyphens).
        models: the model architectures it applies to (e.g. ``("stabn",)``) or :data:`ALL`.
        cost: one of :data:`COSTS`.
        kind: the method's family, one of :data:`KINDS` (figures colour and group methods by it).

    Returns the decorated object unchanged, so it can still be called directly.
    """
    if cost not in COSTS:
        raise ValueError(f"method '{name}': cost {cost!r} is not one of {', '.join(COSTS)}")
    if kind not in KINDS:
        raise ValueError(f"method '{name}': kind {kind!r} is not one of {', '.join(KINDS)}")
    models_value = ALL if models == ALL else tuple(models)

    def decorate(obj: Any) -> Any:
        fn, defaults, accepts_any = _as_function(obj)
        source = f"{obj.__module__}.{obj.__qualname__}"
        doc = inspect.getdoc(obj) or ""
        needs, uses = _ground_truth_inputs(obj)
        spec = MethodSpec(
            name=name, fn=fn, models=models_value, cost=cost, kind=kind, source=source,
            description=doc.splitlines()[0] if doc else "", defaults=defaults, accepts_any_option=accepts_any,
            needs=needs, uses=uses,
        )
        METHODS.register(name, spec, source=source, kind=kind, models=spec.models_text, cost=cost,
                         description=spec.description)
        return obj

    return decorate


def unregister_method(name: str) -> None:
    """Remove ``name`` (for tests and interactive sessions)."""
    METHODS.unregister(name)


def _registry() -> Registry[MethodSpec]:
    load_entry_point_methods()
    return METHODS


def available_methods(model_arch: str | None = None) -> list[str]:
    """Registered method names (all, or those that apply to ``model_arch``), in registration order."""
    return [spec.name for spec in _registry().objects() if spec.applies_to(model_arch)]


def method_specs(model_arch: str | None = None) -> list[MethodSpec]:
    """Like :func:`available_methods`, with the full specs."""
    return [spec for spec in _registry().objects() if spec.applies_to(model_arch)]


def get_method(name: str) -> MethodSpec:
    """The spec of ``name``; an unknown name raises :class:`MethodError` listing the known ones."""
    registry = _registry()
    spec = registry.find(name)
    if spec is not None:
        return spec
    raise MethodError(name, f"unknown method; known methods: {', '.join(registry)}{did_you_mean(name, registry)}")


def select_methods(names: Iterable[str], model_arch: str | None = None) -> list[str]:
    """Expand a config's method list for one model: ``all`` -> every method that applies to ``model_arch``.

    Named methods that do not apply to ``model_arch`` are dropped (ST-ABN's attention has nothing to say about a
    baseline model); unknown names raise :class:`MethodError`.
    """
    out: list[str] = []
    for name in names:
        if name == ALL:
            chosen = available_methods(model_arch)
        else:
            chosen = [name] if get_method(name).applies_to(model_arch) else []
        out.extend(n for n in chosen if n not in out)
    return out


# ---------------------------------------------------------------------- methods from outside the project


def load_methods_module(name_or_path: str) -> list[str]:
    """Import a module that registers methods: a dotted name (``my.methods``) or a ``.py`` file path.

    Returns the names it registered (in sorted order). Raises :class:`StabnBenchError` naming the module and why
    it could not be imported.
    """
    before = set(METHODS)
    import_user_module(name_or_path, "methods", "stabn_bench_user_methods")
    return sorted(set(METHODS) - before)


def load_entry_point_methods(force: bool = False) -> list[str]:
    """Import every module of the ``stabn_bench.methods`` entry-point group (once per process).

    A plugin that fails to import is logged as a warning and skipped, so one broken package does not take the
    built-in methods down with it. Returns the names the plugins registered.
    """
    global _entry_points_loaded
    if _entry_points_loaded and not force:
        return []
    _entry_points_loaded = True
    before = set(METHODS)
    load_entry_points(ENTRY_POINT_GROUP, "explanation-method")
    return sorted(set(METHODS) - before)
