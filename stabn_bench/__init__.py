"""stabn-bench: train ST-ABN and baselines, explain their predictions, score the explanations, report.

One import name with three sub-packages (kept as top-level folders in the repository):

- :mod:`stabn_bench.benchmark` — CLI, configs, data, models, training, orchestration, report and plots;
- :mod:`stabn_bench.baselines` — explanation methods (one registry; ST-ABN attention, Captum, controls);
- :mod:`stabn_bench.metrics` — scoring, pure functions over tensors.

The public API, for notebooks and for any video classifier (loaded on first use, so ``import stabn_bench`` is
cheap)::

    import stabn_bench
    scores = stabn_bench.evaluate(model, clips, targets, methods=["gradcam"], metrics=["deletion_auc"])
    stabn_bench.summarise(scores)                     # mean and 95% CI per model x method x metric
    stabn_bench.available_methods()                   # the registered explanation methods
    exp = stabn_bench.explain("saliency", model, clips)   # one method: (N, T, H, W) map, (N, T) importance

    @stabn_bench.register_method("my-method", kind="gradient")     # plug in a method ...
    @stabn_bench.register_metric("my-metric", direction="higher")  # ... or a metric
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> the module that defines it (imported on first access)
_EXPORTS = {
    "evaluate": "stabn_bench.api",
    "summarise": "stabn_bench.api",
    "paired_tests": "stabn_bench.api",
    "AnyVideoModel": "stabn_bench.api",
    "explain": "stabn_bench.baselines",
    "explain_all": "stabn_bench.baselines",
    "available_methods": "stabn_bench.baselines",
    "method_specs": "stabn_bench.baselines",
    "register_method": "stabn_bench.baselines",
    "load_methods_module": "stabn_bench.baselines",
    "Explanation": "stabn_bench.baselines",
    "MethodError": "stabn_bench.baselines",
    "KINDS": "stabn_bench.baselines",
    "register_metric": "stabn_bench.metrics",
    "load_metrics_module": "stabn_bench.metrics",
    "metric_specs": "stabn_bench.metrics",
    "available_metrics": "stabn_bench.metrics.catalog",
    "load_config": "stabn_bench.benchmark.config",
    "ConfigError": "stabn_bench.benchmark.config",
    "build_model": "stabn_bench.benchmark.models",
}

_RENAMED = {"available_metrics": "selectable_metric_names"}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stabn_bench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
