"""Robustness (max-sensitivity, relative input stability) and the MPRT variants, with known answers."""
import math

import torch
from torch import nn

from stabn_bench.metrics.robustness import perturb_clips, relative_change, robustness_scores
from stabn_bench.metrics.sanity import efficient_mprt, randomised_copy, smooth_mprt


def _clips(n=2):
    return torch.rand(n, 3, 4, 6, 6, generator=torch.Generator().manual_seed(0))


def test_constant_map_has_zero_sensitivity():
    clips = _clips()
    maps = torch.full((2, 4, 6, 6), 0.5)
    values = robustness_scores(lambda c, t: torch.full((c.shape[0], 4, 6, 6), 0.5), clips, torch.zeros(2, dtype=torch.long),
                               maps, n_samples=3, radius=0.05, seed=1)
    assert torch.equal(values["max_sensitivity"], torch.zeros(2, dtype=torch.float64))
    assert torch.equal(values["relative_input_stability"], torch.zeros(2, dtype=torch.float64))


def test_map_redrawn_at_random_is_unstable_and_the_input_itself_is_scored_exactly():
    clips = _clips()
    targets = torch.zeros(2, dtype=torch.long)
    generator = torch.Generator().manual_seed(5)
    redrawn = robustness_scores(lambda c, t: torch.rand(c.shape[0], 4, 6, 6, generator=generator), clips, targets,
                                torch.rand(2, 4, 6, 6, generator=generator), n_samples=4, radius=0.02)
    assert (redrawn["max_sensitivity"] > 0.5).all()  # independent uniform draws: about sqrt(1/6) / sqrt(1/3) ~ 0.7
    # the map is the clip's first channel: the relative change of the map is that of the input's channel
    identity = robustness_scores(lambda c, t: c[:, 0], clips, targets, clips[:, 0], n_samples=3, radius=0.02, seed=2)
    assert (identity["max_sensitivity"] > 0).all() and (identity["max_sensitivity"] < 0.05).all()
    assert (identity["relative_input_stability"] > 0.5).all() and (identity["relative_input_stability"] < 2).all()


def test_perturbation_is_seeded_small_and_stays_in_the_data_range():
    clips = _clips()
    a = perturb_clips(clips, 3, 0.1, torch.Generator().manual_seed(3), low=0.0, high=1.0)
    b = perturb_clips(clips, 3, 0.1, torch.Generator().manual_seed(3), low=0.0, high=1.0)
    assert torch.equal(a, b) and a.shape == (6, 3, 4, 6, 6)
    assert a.min() >= 0 and a.max() <= 1
    assert (a - clips.repeat(3, 1, 1, 1, 1)).abs().max() <= 0.1 + 1e-6
    # per-channel range and scale (ImageNet-normalised units)
    std = torch.tensor([0.2, 0.5, 1.0])
    c = perturb_clips(clips, 2, 0.1, torch.Generator().manual_seed(3), scale=1 / std, low=0.0, high=1.0)
    change = (c - clips.repeat(2, 1, 1, 1, 1)).abs().amax(dim=(0, 2, 3, 4))
    assert (change <= 0.1 / std + 1e-6).all() and change[0] > change[2]


def test_relative_change_known_values():
    a = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    assert torch.allclose(relative_change(a, a * 2), torch.tensor([1.0, 0.0], dtype=torch.float64))
    assert relative_change(torch.zeros(1, 3), torch.zeros(1, 3)).item() == 0.0


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv3d(3, 8, 1)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3, 4)))


def _gradient(model, clips, targets):
    clips = clips.clone().requires_grad_(True)
    model(clips).gather(1, targets[:, None]).sum().backward()
    return clips.grad.abs().sum(dim=1)


def test_smooth_and_efficient_mprt_of_a_model_independent_map_show_no_change():
    model = Tiny().eval()
    clips, targets = _clips(), torch.tensor([0, 1])
    ramp = torch.linspace(0, 1, 6 * 6).reshape(1, 1, 6, 6)

    def independent(m, c, t):
        return (ramp * torch.arange(1, 5).reshape(1, 4, 1, 1)).expand(c.shape[0], 4, 6, 6)

    assert torch.allclose(smooth_mprt(model, independent, clips, targets, n_samples=2), torch.ones(2, dtype=torch.float64))
    assert torch.allclose(efficient_mprt(model, independent, clips, targets), torch.ones(2, dtype=torch.float64))
    # a gradient map changes when the model is randomised
    changed = smooth_mprt(model, _gradient, clips, targets, n_samples=2)
    assert (changed < 0.99).all()
    assert torch.isfinite(efficient_mprt(model, _gradient, clips, targets)).all()


def test_randomised_copy_changes_every_layer_and_leaves_the_model():
    model = Tiny()
    before = [p.clone() for p in model.parameters()]
    copy = randomised_copy(model, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(before, copy.parameters()))
    assert math.isfinite(float(smooth_mprt(model, _gradient, _clips(1), torch.tensor([0]), randomised=copy)))
