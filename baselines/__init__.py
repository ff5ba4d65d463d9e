"""Explanation methods: one registry for ST-ABN's attention, Captum baselines and control methods.

Public API::

    from stabn_bench import baselines
    baselines.available_methods("stabn")        # names that apply to an ST-ABN model
    exp = baselines.explain("gradcam", model, clips)           # clips (N, C, T, H, W)
    exp.spatiotemporal  # (N, T, H, W) at input resolution      exp.temporal  # (N, T)

Adding a method needs no edit to this project: decorate one function (or a class with ``__init__(model)`` and
``attribute(clips, targets, **options)``) in your own module and load it with ``--methods-module my.module`` /
:func:`load_methods_module`, or declare the module in the ``stabn_bench.methods`` entry-point group::

    # my_methods.py
    import torch
    from stabn_bench.baselines import register_method

    @register_method("gradient-norm", models="all", cost="one-backward", kind="gradient")
    def gradient_norm(model, clips, targets, power: float = 2.0):
        '''|d logit / d clip|^power. clips (N, C, T, H, W), targets (N,) -> (N, C, T, H, W).'''
        clips = clips.detach().requires_grad_(True)
        logits = model(clips).logits
        (grad,) = torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), clips)
        return grad.abs() ** power

The shared machinery (:mod:`stabn_bench.baselines.postprocess`) reduces channels, upsamples to (N, T, H, W), derives the
per-frame importance and rejects wrong shapes and NaN / inf with a :class:`MethodError` naming the method.
"""
from __future__ import annotations

if __name__ != "stabn_bench.baselines":  # the repository folder imported under its bare name (e.g. from the repo root)
    raise ImportError(f"import this package as 'stabn_bench.baselines', not {__name__!r} (install the project: bash scripts/setup_env.sh)")


from .errors import MethodError
from .explanation import Explanation
from .registry import (
    ALL, COSTS, ENTRY_POINT_GROUP, GROUND_TRUTH_INPUTS, KINDS, METHODS, MethodSpec, RawAttribution, available_methods,
    get_method, load_entry_point_methods, load_methods_module, method_specs, register_method, select_methods,
    unregister_method,
)
from .runner import DEFAULT_BATCH_SIZE, ExplainBatchResult, explain, explain_all
from .targets import predicted_classes, resolve_targets

# the built-in methods register themselves on import
from . import attention, cam, gradients, perturbation, controls, oracles  # noqa: F401  isort: skip

__all__ = [
    "ALL", "COSTS", "DEFAULT_BATCH_SIZE", "GROUND_TRUTH_INPUTS", "KINDS", "METHODS", "ENTRY_POINT_GROUP", "ExplainBatchResult", "Explanation", "MethodError",
    "MethodSpec", "RawAttribution", "available_methods", "explain", "explain_all", "get_method",
    "load_entry_point_methods", "load_methods_module", "method_specs", "predicted_classes", "register_method",
    "resolve_targets", "select_methods", "unregister_method",
]
