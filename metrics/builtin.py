"""The built-in metrics: one entry of the metric registry each, in the order every table lists them.

Each entry carries its direction, family, label, granularity, its column in the headline tables (``headline``),
whether the metric-agreement analysis compares it (``agreement``) and whether a ceiling is scored beside it; the
catalog (:mod:`stabn_bench.metrics.catalog`), the labels of figures and tables and the headline lists are generated
from these entries. There are two sorts:

- a function of named inputs, registered with :func:`~stabn_bench.metrics.registry.register_metric` exactly like a
  plug-in (``builtin=True``) and computed by the scorer like one: the localisation and complexity metrics. A new
  metric of this sort is one decorated function in this file (its maths may live in a module of its own);
- a score of shared machinery, declared with :func:`~stabn_bench.metrics.registry.declare_metric`: the deletion /
  insertion curves of :mod:`~stabn_bench.metrics.scoring` (computed once per method and read by several metrics),
  the randomisation and robustness tests (they explain again on copies of the model or of the clips) and the
  frame-order sensitivity of the model. ``computed_by`` names the module that computes it.
"""
from __future__ import annotations

from typing import Any

import torch

from . import complexity as _complexity, localisation as _localisation
from .registry import declare_metric, register_metric

SCORER = "stabn_bench.metrics.scoring"
SANITY = "stabn_bench.metrics.sanity"
ROBUSTNESS = "stabn_bench.metrics.robustness"
CURVE_INPUTS = ("map", "clips", "targets", "engine")
FRAME_INPUTS = ("temporal", "clips", "targets", "engine")
MODEL_COPY_INPUTS = ("map", "model", "clips", "targets")

# ---------------------------------------------------------------------- faithfulness (deletion / insertion curves)

declare_metric("deletion_auc", "lower", "faithfulness",
               "AUC of the target probability as the most relevant input is removed first (MoRF)",
               needs=CURVE_INPUTS, computed_by=SCORER, granularity="configured", label="Deletion AUC", headline=1,
               agreement=True)
declare_metric("insertion_auc", "higher", "faithfulness",
               "AUC of the target probability as the most relevant input is inserted first into the substrate",
               needs=CURVE_INPUTS, computed_by=SCORER, granularity="configured", label="Insertion AUC", headline=2,
               agreement=True)
declare_metric("deletion_auc_vs_random", "lower", "faithfulness",
               "deletion AUC minus the random-order deletion AUC of the same clip",
               needs=CURVE_INPUTS, computed_by=SCORER, granularity="configured", label="Deletion AUC − random")
declare_metric("insertion_auc_vs_random", "higher", "faithfulness",
               "insertion AUC minus the random-order insertion AUC of the same clip",
               needs=CURVE_INPUTS, computed_by=SCORER, granularity="configured", label="Insertion AUC − random")
declare_metric("lerf_minus_morf", "higher", "faithfulness", "(LeRF deletion AUC - MoRF deletion AUC) / 2",
               needs=CURVE_INPUTS, computed_by=SCORER, granularity="configured", label="LeRF − MoRF", agreement=True)

# ---------------------------------------------------------------------- temporal (whole frames)

declare_metric("frame_deletion_auc", "lower", "temporal",
               "AUC as whole frames are removed in order of the method's per-frame importance",
               needs=FRAME_INPUTS, computed_by=SCORER, label="Frame deletion AUC", headline=6, agreement=True)
declare_metric("frame_insertion_auc", "higher", "temporal",
               "AUC as whole frames are inserted in order of the method's per-frame importance",
               needs=FRAME_INPUTS, computed_by=SCORER, label="Frame insertion AUC", agreement=True)
declare_metric("frame_deletion_auc_vs_random", "lower", "temporal",
               "frame deletion AUC minus the random-frame-order AUC of the same clip",
               needs=FRAME_INPUTS, computed_by=SCORER, label="Frame deletion AUC − random")
declare_metric("frame_insertion_auc_vs_random", "higher", "temporal",
               "frame insertion AUC minus the random-frame-order AUC of the same clip",
               needs=FRAME_INPUTS, computed_by=SCORER, label="Frame insertion AUC − random")
declare_metric("keep_top_k_accuracy", "higher", "temporal", "accuracy when only the k most important frames are kept",
               needs=(*FRAME_INPUTS, "labels"), computed_by=SCORER, label="Keep-top-k accuracy")
declare_metric("keep_top_k_probability", "higher", "temporal",
               "target probability when only the k most important frames are kept",
               needs=FRAME_INPUTS, computed_by=SCORER, label="Keep-top-k probability", agreement=True)

# ---------------------------------------------------------------------- localisation (ground truth)


@register_metric("pointing_game", "higher", ("map", "mask", "config"), family="localisation",
                 description="share of the frames showing the target whose maximum (with tolerance) falls on it",
                 label="Pointing game", headline=3, agreement=True, ceiling=True, builtin=True)
def pointing_game(map: torch.Tensor, mask: torch.Tensor, config: Any) -> torch.Tensor:
    return _localisation.pointing_game(map, mask, config.pointing_tolerance)


# (no label: the figures and tables write its name in words, "Pointing game native")
@register_metric("pointing_game_native", "higher", ("map", "mask", "native_shape"), family="localisation",
                 description="pointing game per frame at the method's native grid (block means; a hit = the best cell "
                             "holds target pixels)", ceiling=True, builtin=True)
def pointing_game_native(map: torch.Tensor, mask: torch.Tensor, native_shape: Any) -> torch.Tensor:
    return _localisation.pointing_game_native(map, mask, native_shape)


@register_metric("energy_pointing_game", "higher", ("map", "mask"), family="localisation",
                 description="share of each frame's positive mass on the target, mean over the frames showing it",
                 label="Energy pointing game", headline=4, agreement=True, ceiling=True, builtin=True)
def energy_pointing_game(map: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return _localisation.energy_pointing_game(map, mask)


@register_metric("relevance_rank_accuracy", "higher", ("map", "mask"), family="localisation",
                 description="share of each frame's top-|mask| pixels inside its evidence, mean over the frames "
                             "showing the target (ties by expectation)",
                 label="Relevance rank accuracy", agreement=True, ceiling=True, builtin=True)
def relevance_rank_accuracy(map: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return _localisation.relevance_rank_accuracy(map, mask)


@register_metric("temporal_auroc", "higher", ("temporal", "window"), family="localisation",
                 description="AUROC of the per-frame importance against the ground-truth action window",
                 label="Temporal AUROC", headline=5, agreement=True, ceiling=True, builtin=True)
def temporal_auroc(temporal: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    return _localisation.temporal_auroc(temporal, window)


# (no label: the figures and tables write its name in words)
@register_metric("temporal_auroc_vs_prior", "higher", ("temporal", "window", "window_prior"), family="localisation",
                 description="temporal AUROC minus that of the window-placement prior on the same clip", builtin=True)
def temporal_auroc_vs_prior(temporal: torch.Tensor, window: torch.Tensor, window_prior: torch.Tensor) -> torch.Tensor:
    return _localisation.temporal_auroc_vs_prior(temporal, window, window_prior)


# ---------------------------------------------------------------------- sanity (randomised copies of the model)

declare_metric("randomisation_spearman", "lower", "sanity",
               "mean over cascade stages of |Spearman correlation| of the map before / after randomising the model's "
               "parameters from the top layer", needs=MODEL_COPY_INPUTS, computed_by=SANITY,
               label="Randomisation |Spearman ρ|", agreement=True)
declare_metric("smooth_mprt", "lower", "sanity",
               "|Spearman correlation| of the noise-averaged maps of the trained and the fully randomised model "
               "(smooth MPRT, Hedström et al. 2024)", needs=MODEL_COPY_INPUTS, computed_by=SANITY,
               label="Smooth MPRT |ρ|", agreement=True)
declare_metric("efficient_mprt", "higher", "sanity",
               "entropy of the fully randomised model's map / entropy of the trained model's map (efficient MPRT, "
               "Hedström et al. 2024)", needs=MODEL_COPY_INPUTS, computed_by=SANITY, label="Efficient MPRT",
               agreement=True)

# ---------------------------------------------------------------------- complexity (the map alone)


@register_metric("sparseness", "higher", ("map",), family="complexity",
                 description="Gini coefficient of the map's absolute values over space-time (1 = one voxel, "
                             "0 = uniform)", label="Sparseness (Gini)", agreement=True, builtin=True)
def sparseness(map: torch.Tensor) -> torch.Tensor:
    return _complexity.sparseness(map)


@register_metric("sparseness_per_frame", "higher", ("map",), family="complexity",
                 description="Gini coefficient of each frame's absolute values, mean over frames",
                 label="Sparseness per frame", builtin=True)
def sparseness_per_frame(map: torch.Tensor) -> torch.Tensor:
    return _complexity.sparseness_per_frame(map)


@register_metric("complexity", "lower", ("map",), family="complexity",
                 description="entropy of the normalised absolute map over space-time / ln(voxels) (0 = one voxel, "
                             "1 = uniform)", label="Complexity (entropy)", agreement=True, builtin=True)
def complexity(map: torch.Tensor) -> torch.Tensor:
    return _complexity.complexity(map)


@register_metric("complexity_per_frame", "lower", ("map",), family="complexity",
                 description="normalised entropy of each frame's absolute map, mean over frames",
                 label="Complexity per frame", builtin=True)
def complexity_per_frame(map: torch.Tensor) -> torch.Tensor:
    return _complexity.complexity_per_frame(map)


# ---------------------------------------------------------------------- robustness (perturbed clips)

declare_metric("max_sensitivity", "lower", "robustness",
               "largest relative change of the map over small seeded input perturbations (Yeh et al. 2019)",
               needs=MODEL_COPY_INPUTS, computed_by=ROBUSTNESS, label="Max-sensitivity", agreement=True)
declare_metric("relative_input_stability", "lower", "robustness",
               "largest ratio of the map's relative change to the input's relative change over the perturbations "
               "(Agarwal et al. 2022)", needs=MODEL_COPY_INPUTS, computed_by=ROBUSTNESS,
               label="Relative input stability", agreement=True)

# ---------------------------------------------------------------------- model-level (one value per model and clip)

declare_metric("shuffle_prediction_change", "higher", "model",
               "share of clips whose prediction changes when the frames are shuffled",
               needs=("clips", "engine"), computed_by=SCORER, label="Shuffle prediction change")
declare_metric("reverse_prediction_change", "higher", "model",
               "share of clips whose prediction changes when the frames are reversed",
               needs=("clips", "engine"), computed_by=SCORER, label="Reverse prediction change")
