"""Metrics: pure functions over tensors scoring explanations, plus one batched perturbation engine.

- :mod:`metrics.ordering` — ranks of cells (voxel / tube / frame), seeded tie-breaks, NaN checks;
- :mod:`metrics.substrates` — zero, mean, blur, mean frame, frozen frame;
- :mod:`metrics.auc` — trapezoid AUC over the fraction actually changed;
- :mod:`metrics.engine` — :class:`PerturbationEngine`, batched forward passes of perturbed clips;
- :mod:`metrics.faithfulness` — deletion / insertion (MoRF, LeRF, random) and derived scores;
- :mod:`metrics.temporal` — frame deletion / insertion, keep-top-k, frame-order sensitivity;
- :mod:`metrics.localisation` — pointing games, relevance rank accuracy, temporal AUROC;
- :mod:`metrics.sanity` — cascading model-parameter randomisation;
- :mod:`metrics.scoring` — the high-level scorer the runner calls;
- :mod:`metrics.catalog` — metric names and directions; :mod:`metrics.statistics` — CIs and paired tests.
"""
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

__all__ = [
    "Curves", "Endpoints", "PerturbationEngine", "Predictions", "ReferenceCurves", "ScoreResult", "make_engine",
    "model_order_sensitivity", "reference_curves", "score_explanations", "selected_metrics",
]
