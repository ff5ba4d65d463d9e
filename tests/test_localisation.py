"""Localisation against ground truth: known answers, and the evidence mask beats random maps."""
import math

import torch

from stabn_bench.metrics.localisation import energy_pointing_game, pointing_game, relevance_rank_accuracy, temporal_auroc


def evidence_masks(n=6, t=8, h=16, w=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    masks = torch.zeros(n, t, h, w)
    windows = torch.zeros(n, t)
    for i in range(n):
        start = int(torch.randint(0, t - 3, (1,), generator=g))
        y, x = (int(v) for v in torch.randint(0, h - 4, (2,), generator=g))
        masks[i, start:start + 3, y:y + 4, x:x + 4] = 1.0
        windows[i, start:start + 3] = 1.0
    return masks, windows


def test_evidence_as_explanation_beats_random_maps():
    evidence, window = evidence_masks()
    random_maps = torch.rand(evidence.shape, generator=torch.Generator().manual_seed(1))
    random_temporal = torch.rand(window.shape, generator=torch.Generator().manual_seed(2))
    assert pointing_game(evidence, evidence).eq(1).all()
    assert pointing_game(random_maps, evidence).mean() < 0.5
    assert energy_pointing_game(evidence, evidence).eq(1).all()
    assert (energy_pointing_game(random_maps, evidence) < 0.2).all()
    assert relevance_rank_accuracy(evidence, evidence).eq(1).all()
    assert (relevance_rank_accuracy(random_maps, evidence) < 0.5).all()
    assert temporal_auroc(window, window).eq(1).all()
    assert temporal_auroc(random_temporal, window).mean() < 0.9
    assert temporal_auroc(-window, window).eq(0).all()


def test_pointing_game_tolerance_and_ties():
    evidence = torch.zeros(1, 2, 10, 10)
    evidence[0, 0, 4:6, 4:6] = 1.0
    maps = torch.zeros(1, 2, 10, 10)
    maps[0, 0, 4, 8] = 1.0  # 3 pixels right of the mask
    assert pointing_game(maps, evidence, tolerance=0).item() == 0.0
    assert pointing_game(maps, evidence, tolerance=2).item() == 0.0
    assert pointing_game(maps, evidence, tolerance=3).item() == 1.0
    maps[0, 1, 0, 0] = 1.0  # a frame without the target is not scored
    assert pointing_game(maps, evidence, tolerance=3).item() == 1.0
    evidence[0, 1, 0:2, 0:2] = 1.0  # now it shows the target: frames are scored separately and averaged
    maps[0, 1, 0, 0], maps[0, 1, 9, 9] = 1.0, 1.0  # two maxima, one hits
    assert pointing_game(maps, evidence, tolerance=0).item() == 0.25
    flat = torch.ones(1, 2, 10, 10)
    assert math.isclose(pointing_game(flat, evidence).item(), 4 / 100)


def test_energy_and_rank_accuracy_known_values():
    evidence = torch.zeros(1, 1, 2, 2)
    evidence[0, 0, 0, 0] = 1.0
    maps = torch.tensor([[[[3.0, 1.0], [-5.0, 0.0]]]])
    assert math.isclose(energy_pointing_game(maps, evidence).item(), 0.75)
    assert relevance_rank_accuracy(maps, evidence).item() == 1.0
    assert relevance_rank_accuracy(-maps, evidence).item() == 0.0


def test_undefined_values_are_nan_not_made_up():
    empty = torch.zeros(1, 2, 4, 4)
    maps = torch.rand(1, 2, 4, 4)
    assert torch.isnan(pointing_game(maps, empty)).all()
    assert torch.isnan(energy_pointing_game(maps, empty)).all()
    assert torch.isnan(relevance_rank_accuracy(maps, empty)).all()
    full = torch.ones(1, 2, 4, 4)
    assert torch.isnan(energy_pointing_game(-maps, full)).all()  # no positive mass
    assert torch.isnan(temporal_auroc(torch.rand(2, 5), torch.tensor([[1.0] * 5, [0.0] * 5]))).all()


def test_rank_accuracy_is_per_frame_over_the_frames_that_show_the_target():
    # frame 0 shows a 2-pixel target, frame 1 a 4-pixel target, frames 2 and 3 show nothing
    evidence = torch.zeros(1, 4, 4, 4)
    evidence[0, 0, 0, 0:2] = 1
    evidence[0, 1, 3, 0:4] = 1
    maps = torch.zeros(1, 4, 4, 4)
    maps[0, 0, 0, 0:2] = 1.0  # frame 0: its top 2 are the target -> 1
    maps[0, 1, 0, 0:4] = 5.0  # frame 1: its top 4 are all off the target -> 0 (a whole-clip ranking would give 2/6)
    maps[0, 2:] = 9.0  # frames without the target never count
    assert relevance_rank_accuracy(maps, evidence).item() == 0.5
    # a flat frame scores its mask's share of the frame (ties by expectation): (2/16 + 4/16) / 2
    assert math.isclose(relevance_rank_accuracy(torch.ones(1, 4, 4, 4), evidence).item(), 3 / 16)
