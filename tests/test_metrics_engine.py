"""The perturbation engine, orderings, substrates, AUC and memory probe: known answers and invariants."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from stabn_bench.benchmark.errors import DataError
from stabn_bench.metrics.auc import trapezoid_auc
from stabn_bench.metrics.engine import PerturbationEngine
from stabn_bench.metrics.memory import LiveTensorMemory
from stabn_bench.metrics.ordering import check_finite, frame_ranks, map_ranks, rank_scores
from stabn_bench.metrics.substrates import blur_frames, fixed_substrate, freeze_removed_frames

SHAPE = (3, 4, 8, 8)  # C, T, H, W


class Linear(nn.Module):
    """logits = W . flatten(x) + b"""

    def __init__(self, classes: int = 4, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.fc = nn.Linear(math.prod(SHAPE), classes)

    def forward(self, x):
        return self.fc(x.flatten(1))


class TinyConv(nn.Module):
    def __init__(self, classes: int = 4):
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv3d(3, 6, 3, padding=1)
        self.fc = nn.Linear(6, classes)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3, 4)))


def clips(n=3, seed=0):
    return torch.randn(n, *SHAPE, generator=torch.Generator().manual_seed(seed))


def naive_curve(model, clip, rank_map, target, mode, substrate, steps):
    """Direct computation, one forward pass per step (the definition the engine must reproduce)."""
    num_cells = int(rank_map.max()) + 1
    s = min(steps, num_cells)
    fractions, scores = [], []
    for k in range(s + 1):
        n_changed = math.floor(k * num_cells / s + 0.5)
        changed = (rank_map < n_changed).expand(clip.shape[1:])
        x = torch.where(changed, substrate, clip) if mode == "deletion" else torch.where(changed, clip, substrate)
        with torch.no_grad():
            p = model(x[None]).softmax(dim=1)[0, target].item()
        fractions.append(changed.float().mean().item())
        scores.append(p)
    return np.array(fractions), np.array(scores)


@pytest.mark.parametrize("granularity, substrate, mode", [("tube", "blur", "deletion"), ("voxel", "mean", "insertion"), ("frame", "zero", "deletion")])
def test_engine_matches_direct_per_step_computation(granularity, substrate, mode):
    model = Linear().eval()
    x = clips()
    maps = torch.rand(3, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    targets = torch.tensor([0, 2, 3])
    # tube 3x3x3 does not divide 4x8x8: cells of unequal size, so fractions differ from k/S
    ranks = map_ranks(maps, granularity, "morf", torch.Generator().manual_seed(0), tube_size=(3, 3, 3))
    engine = PerturbationEngine(model, blur_sigma=1.0)
    curves = engine.curves(x, ranks, targets, mode, substrate, steps=5)
    base = fixed_substrate(x, substrate, blur_sigma=1.0)
    for i in range(3):
        fractions, scores = naive_curve(model, x[i], ranks.ranks[i], int(targets[i]), mode, base[i], steps=5)
        np.testing.assert_allclose(curves.fractions[i].numpy(), fractions, atol=1e-6)
        np.testing.assert_allclose(curves.scores[i].numpy(), scores, atol=1e-5)
        assert abs(float(curves.auc()[i]) - np.trapezoid(scores, fractions)) < 1e-5
    assert curves.fractions[:, 0].eq(0).all() and curves.fractions[:, -1].eq(1).all()
    if granularity == "tube":
        steps_of_uniform_size = torch.linspace(0, 1, curves.fractions.shape[1], dtype=torch.float64)
        assert not torch.allclose(curves.fractions[0], steps_of_uniform_size)


@pytest.mark.parametrize("model_cls", [Linear, TinyConv])
def test_results_do_not_depend_on_batch_size(model_cls):
    model = model_cls().eval()
    x = clips(4)
    maps = torch.rand(4, 4, 8, 8, generator=torch.Generator().manual_seed(5))
    ranks = map_ranks(maps, "voxel", "morf", torch.Generator().manual_seed(0))
    targets = torch.tensor([0, 1, 2, 3])
    results = [
        PerturbationEngine(model, batch_size=b).curves(x, ranks, targets, "deletion", "blur", steps=6).scores
        for b in (1, 3, 7, 64)
    ]
    budget_sized = PerturbationEngine(model, memory_budget_mb=64).curves(x, ranks, targets, "deletion", "blur", steps=6).scores
    # one input at a time == batched, up to the rounding of the backend's GEMM / conv kernels, whose
    # summation order depends on the batch size (bit-exact equality is not something BLAS promises)
    for other in results[1:] + [budget_sized]:
        torch.testing.assert_close(results[0], other, rtol=0, atol=1e-6)
    # and the batch composition never mixes clips up: the same batch size twice is bit-identical
    again = PerturbationEngine(model, batch_size=3).curves(x, ranks, targets, "deletion", "blur", steps=6).scores
    assert torch.equal(results[1], again)


def test_endpoint_reuse_gives_identical_curves_and_saves_forward_passes():
    model = Linear().eval()
    x, targets = clips(), torch.tensor([1, 1, 0])
    ranks = map_ranks(torch.rand(3, 4, 8, 8), "tube", "morf", torch.Generator().manual_seed(0), tube_size=(2, 4, 4))
    plain = PerturbationEngine(model)
    full = plain.curves(x, ranks, targets, "insertion", "blur", steps=4)
    reusing = PerturbationEngine(model)
    ends = reusing.endpoints(x, targets, "blur")
    before = reusing.inputs_evaluated
    reused = reusing.curves(x, ranks, targets, "insertion", "blur", steps=4, endpoints=ends)
    assert reusing.inputs_evaluated - before == 3 * 3  # only the 3 inner steps per clip
    assert plain.inputs_evaluated == 3 * 5
    torch.testing.assert_close(full.scores, reused.scores, rtol=0, atol=1e-7)
    with pytest.raises(ValueError, match="substrate"):
        reusing.curves(x, ranks, targets, "insertion", "zero", steps=4, endpoints=ends)


def test_constant_curve_auc_equals_the_constant():
    fractions = torch.sort(torch.rand(5, 9), dim=1).values
    fractions[:, 0], fractions[:, -1] = 0, 1
    assert torch.allclose(trapezoid_auc(fractions, torch.full((5, 9), 0.37)), torch.full((5,), 0.37, dtype=torch.float64))
    # a model that ignores its input gives a constant curve at 1/K
    engine = PerturbationEngine(lambda x: torch.zeros(x.shape[0], 5))
    ranks = map_ranks(torch.rand(2, 4, 8, 8), "voxel", "morf", torch.Generator().manual_seed(0))
    auc = engine.curves(clips(2), ranks, torch.tensor([0, 4]), "deletion", "zero", steps=7).auc()
    assert torch.allclose(auc, torch.full((2,), 0.2, dtype=torch.float64))
    with pytest.raises(ValueError, match="start at 0"):
        trapezoid_auc(torch.tensor([[0.1, 1.0]]), torch.tensor([[1.0, 1.0]]))


def test_tie_break_is_seeded_and_not_positional():
    flat = torch.zeros(2, 64)
    a = rank_scores(flat, "morf", torch.Generator().manual_seed(7))
    b = rank_scores(flat, "morf", torch.Generator().manual_seed(7))
    c = rank_scores(flat, "morf", torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[0], torch.arange(64))
    assert torch.equal(a.sort(dim=1).values, torch.arange(64).expand(2, 64))  # a permutation per clip
    # ties are broken randomly, but strict order is kept: cells 0..3 are the four highest
    scores = torch.tensor([[5.0, 5.0, 4.0, 3.0, 1.0, 1.0, 1.0, 1.0]])
    ranks = rank_scores(scores, "morf", torch.Generator().manual_seed(0))
    assert set(ranks[0, :2].tolist()) == {0, 1} and ranks[0, 2] == 2 and ranks[0, 3] == 3
    lerf = rank_scores(scores, "lerf", torch.Generator().manual_seed(0))
    assert set(lerf[0, 4:].tolist()) == {0, 1, 2, 3} and set(lerf[0, :2].tolist()) == {6, 7}


def test_tube_and_frame_ranks_cover_the_clip():
    maps = torch.zeros(1, 4, 8, 8)
    maps[0, 2:, :4, 4:] = 1.0  # the one hot tube of size 2x4x4
    ranks = map_ranks(maps, "tube", "morf", torch.Generator().manual_seed(0), tube_size=(2, 4, 4))
    assert ranks.num_cells == 2 * 2 * 2
    assert ranks.ranks[0, 2:, :4, 4:].eq(0).all() and ranks.ranks[0].ne(0).sum() == 4 * 64 - 32
    assert ranks.voxels_per_rank.sum() == 4 * 64
    frames = frame_ranks(torch.tensor([[0.1, 0.9, 0.5, 0.2]]), "morf", torch.Generator().manual_seed(0))
    assert frames.ranks.shape == (1, 4, 1, 1) and frames.ranks.flatten().tolist() == [3, 0, 1, 2]
    assert frames.voxels_per_rank.tolist() == [[1, 1, 1, 1]]


def test_nan_or_inf_map_is_an_error_naming_method_and_clip():
    maps = torch.rand(3, 4, 8, 8)
    maps[1, 0, 0, 0] = float("nan")
    with pytest.raises(DataError, match=r"method 'gradcam'.*clip vid_b"):
        check_finite(maps, "gradcam", ["vid_a", "vid_b", "vid_c"])
    maps[1, 0, 0, 0] = float("inf")
    with pytest.raises(DataError, match=r"#1"):
        check_finite(maps, "saliency")
    check_finite(torch.rand(2, 4))


def test_substrates():
    x = clips(2)
    assert fixed_substrate(x, "zero", 1.0).abs().sum() == 0
    mean = fixed_substrate(x, "mean", 1.0)
    assert torch.allclose(mean[:, :, 0, 0, 0], x.mean(dim=(2, 3, 4)))
    blurred = blur_frames(x, 1.5)
    assert blurred.shape == x.shape and blurred.std() < x.std()
    # blur is per frame: a frame of constant value stays constant and frames do not mix
    y = torch.zeros(1, 3, 4, 8, 8)
    y[:, :, 2] = 1.0
    assert torch.allclose(blur_frames(y, 2.0), y, atol=1e-6)
    with pytest.raises(ValueError, match="unknown substrate"):
        fixed_substrate(x, "noise", 1.0)


def test_frozen_frames_repeat_the_last_kept_frame():
    video = torch.arange(5.0).view(1, 1, 5, 1, 1).expand(1, 2, 5, 2, 2)
    kept = torch.tensor([[False, True, False, False, True]])
    out = freeze_removed_frames(video, kept)
    assert out[0, 0, :, 0, 0].tolist() == [1.0, 1.0, 1.0, 1.0, 4.0]
    none = freeze_removed_frames(video, torch.zeros(1, 5, dtype=torch.bool))
    assert torch.allclose(none, torch.full_like(video, 2.0))


def test_memory_probe_and_budget():
    with LiveTensorMemory() as tracker:
        a = torch.ones(1000)
        b = a * 2
        del a, b
    assert tracker.peak == 8000 and tracker.live == 0
    model = TinyConv().eval()
    small = PerturbationEngine(model, memory_budget_mb=1)
    large = PerturbationEngine(model, memory_budget_mb=512)
    assert 1 <= small.batch_size_for(SHAPE) < large.batch_size_for(SHAPE)
    x = clips(4)
    ranks = map_ranks(torch.rand(4, 4, 8, 8), "voxel", "morf", torch.Generator().manual_seed(0))
    with LiveTensorMemory() as tracker:
        small.curves(x, ranks, torch.zeros(4, dtype=torch.long), "deletion", "blur", steps=8)
    assert tracker.peak <= 1 * 1024 * 1024


def test_training_mode_model_is_refused():
    with pytest.raises(ValueError, match="eval"):
        PerturbationEngine(TinyConv().train())


def test_memo_shares_forward_passes_and_changes_no_value():
    """The LeRF deletion curve keeps exactly the inputs the insertion curve keeps: with the memo the second curve
    costs no forward pass, and every value equals the one a fresh engine computes (up to float rounding of other
    batch compositions)."""
    from stabn_bench.metrics.engine import channels_last_model

    model = channels_last_model(TinyConv().eval())
    x = clips(3)
    targets = torch.tensor([0, 1, 2])
    maps = torch.rand(3, 4, 8, 8, generator=torch.Generator().manual_seed(5))
    ranks = map_ranks(maps, "tube", "morf", torch.Generator().manual_seed(0), tube_size=(2, 4, 4))
    lerf = map_ranks(maps, "tube", "lerf", torch.Generator().manual_seed(0), tube_size=(2, 4, 4))
    engine = PerturbationEngine(model, batch_size=4)
    insertion = engine.curves(x, ranks, targets, "insertion", "zero", steps=8)
    evaluated = engine.inputs_evaluated
    deletion_lerf = engine.curves(x, lerf, targets, "deletion", "zero", steps=8)
    assert engine.inputs_evaluated == evaluated  # every LeRF input was an insertion input
    assert engine.inputs_reused >= 3 * 7
    torch.testing.assert_close(deletion_lerf.scores, insertion.scores.flip(1), rtol=0, atol=0)
    fresh = PerturbationEngine(model, batch_size=3).curves(x, lerf, targets, "deletion", "zero", steps=8)
    torch.testing.assert_close(fresh.scores, deletion_lerf.scores, rtol=0, atol=1e-6)
    # other clips (a new tensor) never hit the memo
    other = PerturbationEngine(model, batch_size=4)
    other.curves(x, ranks, targets, "insertion", "zero", steps=8)
    before = other.inputs_evaluated
    other.curves(x.clone(), lerf, targets, "deletion", "zero", steps=8)
    assert other.inputs_evaluated > before
