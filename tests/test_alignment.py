"""Attention alignment (metrics/alignment.py): Spearman of M_s with the pooled evidence, of M_t with the window."""
import math

import numpy as np
import pytest
import torch

from stabn_bench.metrics.alignment import pool_to_grid, spatial_alignment, spearman_rows, temporal_alignment


def test_pool_to_grid_gives_the_share_of_evidence_pixels_per_cell():
    mask = torch.zeros(1, 2, 4, 4)
    mask[0, 0, :2, :2] = 1          # frame 0: the top-left cell is all evidence
    mask[0, 1, 0, 2] = 1            # frame 1: one pixel of the top-right cell
    pooled = pool_to_grid(mask, (2, 2, 2))
    assert pooled.shape == (1, 2, 2, 2)
    assert torch.equal(pooled[0, 0], torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    assert torch.equal(pooled[0, 1], torch.tensor([[0.0, 0.25], [0.0, 0.0]]))


def test_spearman_rows_known_values():
    a = np.array([[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4], [1, 1, 1, 1]], dtype=float)
    b = np.array([[1, 3, 2, 4], [4, 3, 2, 1], [2, 4, 6, 8], [1, 2, 3, 4]], dtype=float)
    rho = spearman_rows(a, b)
    # 1 - 6 * sum(d^2) / (n (n^2 - 1)) = 1 - 6 * 2 / 60
    assert rho[:3] == pytest.approx([0.8, -1.0, 1.0])
    assert math.isnan(rho[3])  # a constant row has no ranking


def test_spearman_rows_uses_only_valid_entries():
    a = np.array([[1.0, 2.0, 3.0, 100.0]])
    b = np.array([[1.0, 2.0, 3.0, -100.0]])
    assert spearman_rows(a, b)[0] < 0.5
    assert spearman_rows(a, b, valid=np.array([[True, True, True, False]]))[0] == pytest.approx(1.0)
    assert math.isnan(spearman_rows(a, b, valid=np.array([[True, False, False, False]]))[0])


def _clip_with_evidence():
    evidence = torch.zeros(1, 4, 8, 8)
    evidence[0, 1:3, 0:4, 0:4] = 1       # window = frames 1, 2; target in the top-left quarter
    evidence[0, 1:3, 4:6, 0:2] = 1       # and a quarter of the bottom-left cell
    return evidence


def test_spatial_alignment_perfect_inverted_and_outside_the_window_ignored():
    evidence = _clip_with_evidence()
    pooled = pool_to_grid(evidence, (4, 2, 2))
    attention = pooled.clone()
    attention[0, 0] = torch.tensor([[0.0, 1.0], [1.0, 0.5]])   # frames without evidence do not count
    attention[0, 3] = torch.rand(2, 2)
    assert spatial_alignment(attention, evidence)[0] == pytest.approx(1.0)
    assert spatial_alignment(1 - attention, evidence)[0] == pytest.approx(-1.0)
    # a known value: cells (1, 0.25, 0, 0) per frame vs attention ranking the zero cells apart
    attention = torch.tensor([0.9, 0.1, 0.3, 0.2]).reshape(1, 1, 2, 2).repeat(1, 4, 1, 1)
    expected = spearman_rows(np.tile([0.9, 0.1, 0.3, 0.2], 2)[None], np.tile([1, 0, 0.25, 0], 2)[None])[0]
    assert spatial_alignment(attention, evidence)[0] == pytest.approx(expected)
    assert 0 < expected < 1


def test_spatial_alignment_without_evidence_is_nan():
    assert math.isnan(spatial_alignment(torch.rand(1, 4, 2, 2), torch.zeros(1, 4, 8, 8))[0])
    with pytest.raises(ValueError, match="attention"):
        spatial_alignment(torch.rand(4, 2, 2), torch.zeros(1, 4, 8, 8))


def test_temporal_alignment_known_values():
    window = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [0, 1, 1, 0]], dtype=torch.float32)
    attention = torch.tensor([[0.1, 0.3, 0.2, 0.4], [0.0, 0.0, 1.0, 1.0], [0.5, 0.5, 0.5, 0.5]])
    rho = temporal_alignment(attention, window)
    # ranks (1, 3, 2, 4) vs (1.5, 1.5, 3.5, 3.5): covariance 2, variances 5 and 4 -> 2 / sqrt(20)
    assert rho[0] == pytest.approx(2 / math.sqrt(20))
    assert rho[1] == pytest.approx(1.0)
    assert math.isnan(rho[2])
    assert temporal_alignment(1 - attention[:2], window[:2]) == pytest.approx([-2 / math.sqrt(20), -1.0])
