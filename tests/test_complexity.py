"""Complexity metrics (sparseness = Gini, complexity = normalised entropy) with known answers."""
import math

import torch

from stabn_bench.metrics.complexity import (
    complexity, complexity_per_frame, gini, normalised_entropy, sparseness, sparseness_per_frame,
)


def test_one_hot_map_has_gini_one_and_entropy_zero():
    maps = torch.zeros(2, 3, 4, 5)
    maps[0, 1, 2, 3] = 0.7
    maps[1, 0, 0, 0] = -4.0  # the sign does not matter
    assert torch.allclose(sparseness(maps), torch.ones(2, dtype=torch.float64))
    assert torch.allclose(complexity(maps), torch.zeros(2, dtype=torch.float64))


def test_uniform_map_has_gini_zero_and_entropy_one():
    maps = torch.full((2, 3, 4, 5), 0.3)
    assert torch.allclose(sparseness(maps), torch.zeros(2, dtype=torch.float64))
    assert torch.allclose(sparseness_per_frame(maps), torch.zeros(2, dtype=torch.float64))
    assert torch.allclose(complexity(maps), torch.ones(2, dtype=torch.float64))
    assert torch.allclose(complexity_per_frame(maps), torch.ones(2, dtype=torch.float64))


def test_known_values():
    # two of four cells hold equal mass: entropy ln 2 / ln 4 = 1/2; plain Gini 1/2, scaled by 1/(1 - 1/4) = 2/3
    row = torch.tensor([[0.0, 1.0, 0.0, 1.0]])
    assert math.isclose(normalised_entropy(row).item(), 0.5)
    assert math.isclose(gini(row).item(), 2 / 3)
    # [1, 2, 3, 4]: plain Gini = sum (2i - 5) a_i / (4 * 10) = (-3 - 2 + 3 + 12) / 40 = 0.25, scaled 1/3
    assert math.isclose(gini(torch.tensor([[4.0, 1.0, 3.0, 2.0]])).item(), 0.25 / 0.75)


def test_per_frame_scores_each_frame_and_skips_frames_without_mass():
    maps = torch.zeros(1, 3, 2, 2)
    maps[0, 0, 0, 0] = 1.0  # frame 0: one-hot
    maps[0, 1] = 1.0  # frame 1: uniform; frame 2: empty (no distribution, left out)
    assert math.isclose(sparseness_per_frame(maps).item(), 0.5)
    assert math.isclose(complexity_per_frame(maps).item(), 0.5)
    # over space-time the clip is 5 equal cells of 12: entropy ln 5 / ln 12
    assert math.isclose(complexity(maps).item(), math.log(5) / math.log(12))


def test_empty_map_is_nan():
    maps = torch.zeros(1, 2, 3, 3)
    assert torch.isnan(sparseness(maps)).all() and torch.isnan(complexity(maps)).all()
    assert torch.isnan(sparseness_per_frame(maps)).all() and torch.isnan(complexity_per_frame(maps)).all()


def test_scale_invariant():
    maps = torch.rand(3, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(sparseness(maps), sparseness(maps * 17.0))
    assert torch.allclose(complexity(maps), complexity(maps * 17.0))
