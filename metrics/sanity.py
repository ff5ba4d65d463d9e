"""Sanity check by model-parameter randomisation (Adebayo et al., NeurIPS 2018), cascading from the top layer.

The layers are re-initialised one after the other, from the output towards the input, on a copy of the model;
after each stage the explanation is computed again and compared with the trained model's explanation by the
Spearman rank correlation over all voxels (``scipy.stats.spearmanr``). A method that passes the check gives
maps that decorrelate as the model is destroyed, so a LOW correlation is better.

The per-clip score ``randomisation_spearman`` is the mean over the cascade stages of the absolute correlation
(as in Adebayo et al.'s "absolute value" plots, so that a map that merely inverts does not look independent).
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from scipy import stats
from torch import nn

#: explain_fn(model, clips (N, C, T, H, W), targets (N,)) -> maps (N, T, H, W)
ExplainFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class RandomisationResult:
    """Outcome of the cascading randomisation.

    Attributes:
        layers: the layer names, top first; stage i has layers[0..i] randomised.
        correlations: (L, N) signed Spearman correlation per stage and clip (NaN where a map is constant).
        score: (N,) mean over stages of the absolute correlation (``randomisation_spearman``).
    """

    layers: list[str]
    correlations: torch.Tensor
    score: torch.Tensor


def spearman_per_clip(maps_a: torch.Tensor, maps_b: torch.Tensor) -> torch.Tensor:
    """(N,) Spearman rank correlation between two sets of maps (N, ...), flattened per clip; NaN if constant."""
    a = maps_a.reshape(maps_a.shape[0], -1).double().cpu().numpy()
    b = maps_b.reshape(maps_b.shape[0], -1).double().cpu().numpy()
    out = np.full(a.shape[0], np.nan)
    for i in range(a.shape[0]):
        if np.ptp(a[i]) > 0 and np.ptp(b[i]) > 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[i] = stats.spearmanr(a[i], b[i]).statistic
    return torch.from_numpy(out)


def cascade_layer_names(model: nn.Module) -> list[str]:
    """Default cascade: the model's top-level children that hold parameters, from the last registered (top)
    to the first (bottom)."""
    names = [name for name, child in model.named_children() if any(True for _ in child.parameters())]
    return names[::-1]


def randomise_module(module: nn.Module, generator_seed: int) -> None:
    """Re-initialise every parameter of ``module`` (its own ``reset_parameters`` where it has one)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(generator_seed)
        for sub in module.modules():
            reset = getattr(sub, "reset_parameters", None)
            if callable(reset):
                reset()
            elif any(True for _ in sub.parameters(recurse=False)):
                for parameter in sub.parameters(recurse=False):
                    with torch.no_grad():
                        parameter.normal_(0, 0.02)


def cascading_randomisation(
    model: nn.Module,
    explain_fn: ExplainFn,
    clips: torch.Tensor,
    targets: torch.Tensor,
    layers: Optional[Sequence[str]] = None,
    seed: int = 0,
) -> RandomisationResult:
    """Randomise ``layers`` (top first; default :func:`cascade_layer_names`) cumulatively on a copy of the model
    and compare each stage's maps with the trained model's maps.

    The targets stay those of the trained model. The model itself is not modified.
    """
    layers = list(layers) if layers is not None else cascade_layer_names(model)
    modules = dict(model.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        raise ValueError(f"layers {missing} are not in the model; valid names include {list(dict(model.named_children()))}")
    reference = explain_fn(model, clips, targets).detach()
    randomised = copy.deepcopy(model).eval()
    random_modules = dict(randomised.named_modules())
    correlations = []
    for stage, name in enumerate(layers):
        randomise_module(random_modules[name], seed + stage)
        maps = explain_fn(randomised, clips, targets).detach()
        correlations.append(spearman_per_clip(reference, maps))
    table = torch.stack(correlations) if correlations else torch.empty(0, clips.shape[0], dtype=torch.float64)
    return RandomisationResult(layers, table, table.abs().mean(dim=0) if len(layers) else torch.full((clips.shape[0],), float("nan")))
