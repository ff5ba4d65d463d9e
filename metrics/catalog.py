"""The names of every score the benchmark writes to ``scores.csv`` / ``curves.csv``, and which direction is better.

This table is the one place the report, the plots and the README take metric names and directions from.
A metric module adds its entries here. Plug-in metrics (:func:`stabn_bench.metrics.register_metric`, in
:mod:`stabn_bench.metrics.registry`) are entered here too when they are registered, so every table and figure
treats them like the built-in scores.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    name: str
    higher_is_better: bool
    family: str  # faithfulness | temporal | localisation | complexity | robustness | sanity | model (plug-ins: others)
    description: str
    #: for a per-granularity variant (``deletion_auc_voxel``): the metric it is a variant of
    variant_of: str | None = None
    #: True for a name read from a results folder's ``plugins.json`` (its direction only, for the report): it
    #: cannot be selected in a config, and a plug-in of the same name may register over it
    from_results: bool = False

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"


METRICS: dict[str, MetricInfo] = {}

#: Curve names in ``curves.csv`` (x = fraction of the input actually changed, y = target probability).
#: MoRF curves carry the plain name; ``_lerf`` = least relevant first; ``_random`` = random order (the same
#: for every method of a model). Curves at a granularity other than the configured first one end in
#: ``_<granularity>`` (e.g. ``deletion_voxel``).
CURVES = (
    "deletion", "insertion", "frame_deletion", "frame_insertion",
    "deletion_lerf", "deletion_random", "insertion_random", "frame_deletion_random", "frame_insertion_random",
)

#: Faithfulness metrics computed at every configured granularity (see :func:`granularity_variant`).
PER_GRANULARITY = ("deletion_auc", "insertion_auc", "deletion_auc_vs_random", "insertion_auc_vs_random", "lerf_minus_morf")
GRANULARITIES = ("voxel", "tube", "frame")


def register_metric_info(name: str, higher_is_better: bool, family: str, description: str,
                         variant_of: str | None = None, from_results: bool = False) -> MetricInfo:
    info = MetricInfo(name, higher_is_better, family, description, variant_of, from_results)
    METRICS[name] = info
    return info


for _name, _higher, _family, _text in [
    ("deletion_auc", False, "faithfulness", "AUC of the target probability as the most relevant input is removed first (MoRF)"),
    ("insertion_auc", True, "faithfulness", "AUC of the target probability as the most relevant input is inserted first into the substrate"),
    ("deletion_auc_vs_random", False, "faithfulness", "deletion AUC minus the random-order deletion AUC of the same clip"),
    ("insertion_auc_vs_random", True, "faithfulness", "insertion AUC minus the random-order insertion AUC of the same clip"),
    ("lerf_minus_morf", True, "faithfulness", "(LeRF deletion AUC - MoRF deletion AUC) / 2"),
    ("frame_deletion_auc", False, "temporal", "AUC as whole frames are removed in order of the method's per-frame importance"),
    ("frame_insertion_auc", True, "temporal", "AUC as whole frames are inserted in order of the method's per-frame importance"),
    ("frame_deletion_auc_vs_random", False, "temporal", "frame deletion AUC minus the random-frame-order AUC of the same clip"),
    ("frame_insertion_auc_vs_random", True, "temporal", "frame insertion AUC minus the random-frame-order AUC of the same clip"),
    ("keep_top_k_accuracy", True, "temporal", "accuracy when only the k most important frames are kept"),
    ("keep_top_k_probability", True, "temporal", "target probability when only the k most important frames are kept"),
    ("pointing_game", True, "localisation", "share of the frames showing the target whose maximum (with tolerance) falls on it"),
    ("pointing_game_native", True, "localisation", "pointing game per frame at the method's native grid (block means; a hit = the best cell holds target pixels)"),
    ("energy_pointing_game", True, "localisation", "share of each frame's positive mass on the target, mean over the frames showing it"),
    ("relevance_rank_accuracy", True, "localisation", "share of each frame's top-|mask| pixels inside its evidence, mean over the frames showing the target (ties by expectation)"),
    ("temporal_auroc", True, "localisation", "AUROC of the per-frame importance against the ground-truth action window"),
    ("temporal_auroc_vs_prior", True, "localisation", "temporal AUROC minus that of the window-placement prior on the same clip"),
    ("randomisation_spearman", False, "sanity", "mean over cascade stages of |Spearman correlation| of the map before / after randomising the model's parameters from the top layer"),
    ("smooth_mprt", False, "sanity", "|Spearman correlation| of the noise-averaged maps of the trained and the fully randomised model (smooth MPRT, Hedström et al. 2024)"),
    ("efficient_mprt", True, "sanity", "entropy of the fully randomised model's map / entropy of the trained model's map (efficient MPRT, Hedström et al. 2024)"),
    ("sparseness", True, "complexity", "Gini coefficient of the map's absolute values over space-time (1 = one voxel, 0 = uniform)"),
    ("sparseness_per_frame", True, "complexity", "Gini coefficient of each frame's absolute values, mean over frames"),
    ("complexity", False, "complexity", "entropy of the normalised absolute map over space-time / ln(voxels) (0 = one voxel, 1 = uniform)"),
    ("complexity_per_frame", False, "complexity", "normalised entropy of each frame's absolute map, mean over frames"),
    ("max_sensitivity", False, "robustness", "largest relative change of the map over small seeded input perturbations (Yeh et al. 2019)"),
    ("relative_input_stability", False, "robustness", "largest ratio of the map's relative change to the input's relative change over the perturbations (Agarwal et al. 2022)"),
    ("shuffle_prediction_change", True, "model", "share of clips whose prediction changes when the frames are shuffled"),
    ("reverse_prediction_change", True, "model", "share of clips whose prediction changes when the frames are reversed"),
]:
    register_metric_info(_name, _higher, _family, _text)


#: Localisation scores that get a ceiling: ``<name>_ceiling`` = the score of a perfect map at the method's native
#: resolution (the evidence pooled to its grid), printed beside the score; not a score of the method itself.
CEILINGS = ("pointing_game", "pointing_game_native", "energy_pointing_game", "relevance_rank_accuracy", "temporal_auroc")


def ceiling_name(name: str) -> str:
    """Name of the ceiling of localisation score ``name``."""
    return f"{name}_ceiling"


for _name in CEILINGS:
    register_metric_info(
        ceiling_name(_name), True, "localisation",
        f"ceiling of {_name}: its value for a perfect map at the method's native resolution (not a score of the method)",
    )


def granularity_variant(name: str, granularity: str) -> str:
    """Name of a faithfulness metric (or curve) at a granularity other than the configured first one."""
    return f"{name}_{granularity}"


for _name in PER_GRANULARITY:
    for _granularity in GRANULARITIES:
        _base = METRICS[_name]
        register_metric_info(
            granularity_variant(_name, _granularity), _base.higher_is_better, _base.family,
            f"{_base.description} ({_granularity} granularity)", variant_of=_name,
        )


def selectable_metric_names() -> list[str]:
    """Names that ``metrics.metrics`` may list: every metric except the per-granularity variants (those follow
    ``metrics.granularities``)."""
    variants = {granularity_variant(n, g) for n in PER_GRANULARITY for g in GRANULARITIES}
    return [name for name, info in METRICS.items()
            if name not in variants and info.variant_of is None and not info.from_results]
