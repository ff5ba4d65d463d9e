"""Sanity checks by model-parameter randomisation: the cascading test (Adebayo et al., NeurIPS 2018), and smooth MPRT
and efficient MPRT (Hedström et al., TMLR 2024; :func:`smooth_mprt`, :func:`efficient_mprt`).

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


def randomised_copy(model: nn.Module, layers: Optional[Sequence[str]] = None, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with every layer of ``layers`` (default :func:`cascade_layer_names`) re-initialised, with
    the seeds of the cascade's last stage (so it is the fully randomised model of :func:`cascading_randomisation`)."""
    layers = list(layers) if layers is not None else cascade_layer_names(model)
    randomised = copy.deepcopy(model).eval()
    modules = dict(randomised.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        raise ValueError(f"layers {missing} are not in the model; valid names include {list(dict(model.named_children()))}")
    for stage, name in enumerate(layers):
        randomise_module(modules[name], seed + stage)
    return randomised


def smooth_mprt(
    model: nn.Module, explain_fn: ExplainFn, clips: torch.Tensor, targets: torch.Tensor, n_samples: int = 3,
    noise_std: float = 0.1, seed: int = 0, layers: Optional[Sequence[str]] = None,
    randomised: Optional[nn.Module] = None,
) -> torch.Tensor:
    """Smooth MPRT (Hedström et al., "Sanity checks revisited", TMLR 2024): the model-parameter randomisation test
    on maps denoised by averaging over noisy copies of the input, so that gradient shattering noise does not pass
    for a change. Each clip is explained ``n_samples`` times with Gaussian noise of ``noise_std`` (in the clips'
    units) added, by the trained model and by the fully randomised one (:func:`randomised_copy`), with the same
    noise for both; the score is the absolute Spearman correlation of the two averaged maps. LOW is better (the
    map follows the model); a map that does not depend on the model scores 1 (no change).

    Args:
        clips: (N, C, T, H, W); targets: (N,).
        randomised: the fully randomised model, when the caller already has it.
    Returns:
        (N,) float64 in [0, 1]; NaN where an averaged map is constant.
    """
    n = clips.shape[0]
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn((n_samples, *clips.shape), generator=generator).to(clips.device, clips.dtype) * noise_std
    noisy = (clips.unsqueeze(0) + noise).reshape(n_samples * n, *clips.shape[1:])
    repeated = targets.repeat(n_samples)
    randomised = randomised if randomised is not None else randomised_copy(model, layers, seed)

    def averaged(m: nn.Module) -> torch.Tensor:
        maps = explain_fn(m, noisy, repeated).detach().cpu().double()
        return maps.reshape(n_samples, n, *maps.shape[1:]).mean(dim=0)

    return spearman_per_clip(averaged(model), averaged(randomised)).abs()


def efficient_mprt(
    model: nn.Module, explain_fn: ExplainFn, clips: torch.Tensor, targets: torch.Tensor, seed: int = 0,
    layers: Optional[Sequence[str]] = None, reference: Optional[torch.Tensor] = None,
    randomised: Optional[nn.Module] = None,
) -> torch.Tensor:
    """Efficient MPRT (Hedström et al. 2024): the rise in the map's complexity when the model's parameters are
    randomised, ``H(e_random) / H(e_trained)`` with ``H`` the normalised entropy of the absolute map
    (:func:`stabn_bench.metrics.complexity.complexity`). No similarity measure is needed, and one randomised
    model suffices. HIGH is better (a randomised model gives a noisier map); a model-independent map scores 1.

    Args:
        clips: (N, C, T, H, W); targets: (N,).
        reference: (N, T, H, W) the trained model's maps when the caller already has them.
        randomised: the fully randomised model (:func:`randomised_copy`) when the caller already has it.
    Returns:
        (N,) float64; NaN where a map has no mass or the trained model's map is one voxel (entropy 0).
    """
    from .complexity import complexity

    reference = reference if reference is not None else explain_fn(model, clips, targets)
    randomised = randomised if randomised is not None else randomised_copy(model, layers, seed)
    before = complexity(reference.detach().cpu())
    after = complexity(explain_fn(randomised, clips, targets).detach().cpu())
    return torch.where(before > 0, after / before.clamp(min=torch.finfo(torch.float64).tiny),
                       torch.full_like(before, float("nan")))
