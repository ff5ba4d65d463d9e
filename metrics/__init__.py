"""Metrics: pure functions over tensors scoring explanations, plus one batched perturbation engine.

- :mod:`stabn_bench.metrics.ordering` — ranks of cells (voxel / tube / frame), seeded tie-breaks, NaN checks;
- :mod:`stabn_bench.metrics.substrates` — zero, mean, blur, mean frame, frozen frame, road (3-D noisy linear imputation);
- :mod:`stabn_bench.metrics.auc` — trapezoid AUC over the fraction actually changed;
- :mod:`stabn_bench.metrics.engine` — :class:`PerturbationEngine`, batched forward passes of perturbed clips;
- :mod:`stabn_bench.metrics.faithfulness` — deletion / insertion (MoRF, LeRF, random) and derived scores;
- :mod:`stabn_bench.metrics.temporal` — frame deletion / insertion, keep-top-k, frame-order sensitivity;
- :mod:`stabn_bench.metrics.localisation` — per-frame pointing games (and at the native grid), relevance rank accuracy, temporal AUROC, ceilings;
- :mod:`stabn_bench.metrics.sanity` — model-parameter randomisation: cascading, smooth MPRT, efficient MPRT;
- :mod:`stabn_bench.metrics.complexity` — sparseness (Gini) and complexity (entropy), over space-time and per frame;
- :mod:`stabn_bench.metrics.robustness` — max-sensitivity and relative input stability under seeded perturbations;
- :mod:`stabn_bench.metrics.agreement` — Kendall tau between the method rankings of pairs of metrics;
- :mod:`stabn_bench.metrics.scoring` — the high-level scorer the runner calls;
- :mod:`stabn_bench.metrics.registry` — the metric registry, built-in and plug-in metrics alike (:func:`register_metric`,
  ``--metrics-module``, entry points); :mod:`stabn_bench.metrics.builtin` — the built-in metrics' entries;
- :mod:`stabn_bench.metrics.catalog` — every score name with its direction, the labels and the headline lists,
  generated from the registry; :mod:`stabn_bench.metrics.statistics` — CIs and paired tests;
- :mod:`stabn_bench.metrics.validity` — can a metric tell the oracle from random on this data (pass / fail per model).
"""

if __name__ != "stabn_bench.metrics":  # the repository folder imported under its bare name (e.g. from the repo root)
    raise ImportError(f"import this package as 'stabn_bench.metrics', not {__name__!r} (install the project: bash scripts/setup_env.sh)")

from .engine import Curves, Endpoints, PerturbationEngine, Predictions
from .scoring import (
    ReferenceCurves,
    ScoreResult,
    make_engine,
    model_order_sensitivity,
    reference_curves,
    score_explanations,
    selected_metrics,
)

from .registry import (
    ENTRY_POINT_GROUP, REGISTRY, MetricSpec, get_metric, load_entry_point_metrics, load_metrics_module, metric_specs,
    register_metric, unregister_metric,
)

__all__ = [
    "ENTRY_POINT_GROUP", "REGISTRY", "MetricSpec", "get_metric", "load_entry_point_metrics", "load_metrics_module",
    "metric_specs", "register_metric", "unregister_metric",
    "Curves", "Endpoints", "PerturbationEngine", "Predictions", "ReferenceCurves", "ScoreResult", "make_engine",
    "model_order_sensitivity", "reference_curves", "score_explanations", "selected_metrics",
]
