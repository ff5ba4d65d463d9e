"""Deletion / insertion with known answers on a model that is linear in its input."""
import math

import torch
from torch import nn

from stabn_bench.metrics.engine import PerturbationEngine
from stabn_bench.metrics.faithfulness import auc_vs_random, lerf_minus_morf, map_curves, random_order_curves
from stabn_bench.metrics.ordering import map_ranks

SHAPE = (3, 4, 6, 6)


class TwoClassLinear(nn.Module):
    """logits = W . flatten(x): with two classes the target probability is sigmoid of a linear margin."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(math.prod(SHAPE), 2, bias=False)

    def forward(self, x):
        return self.fc(x.flatten(1))


def exact_relevance(model: TwoClassLinear, clips: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(N, T, H, W) contribution of every voxel to the target-vs-other margin (summed over channels)."""
    w = model.fc.weight.detach().view(2, *SHAPE)
    margin_weight = w[targets] - w[1 - targets]  # (N, C, T, H, W)
    return (margin_weight * clips).sum(dim=1)


def test_exact_ordering_gives_the_lowest_deletion_auc_of_all_orderings():
    model = TwoClassLinear().eval()
    clips = torch.randn(4, *SHAPE, generator=torch.Generator().manual_seed(1))
    targets = torch.tensor([0, 1, 0, 1])
    relevance = exact_relevance(model, clips, targets)
    engine = PerturbationEngine(model)
    kwargs = dict(granularity="voxel", substrate="zero", steps=12)
    morf = map_curves(engine, clips, relevance, targets, mode="deletion", order="morf", **kwargs).auc()
    others = [
        map_curves(engine, clips, relevance, targets, mode="deletion", order="lerf", **kwargs).auc(),
        map_curves(engine, clips, relevance.abs(), targets, mode="deletion", order="morf", **kwargs).auc(),
        map_curves(engine, clips, -relevance, targets, mode="deletion", order="morf", **kwargs).auc(),
    ]
    others += [random_order_curves(engine, clips, targets, mode="deletion", seed=s, **kwargs).auc() for s in range(8)]
    others += [
        map_curves(engine, clips, relevance + 0.5 * torch.randn(relevance.shape, generator=torch.Generator().manual_seed(s)),
                   targets, mode="deletion", order="morf", **kwargs).auc()
        for s in range(4)
    ]
    for auc in others:
        assert (morf <= auc + 1e-9).all()
    # and insertion in the exact order gives the highest insertion AUC
    insertion = map_curves(engine, clips, relevance, targets, mode="insertion", order="morf", **kwargs).auc()
    for s in range(4):
        rnd = random_order_curves(engine, clips, targets, mode="insertion", seed=s, **kwargs).auc()
        assert (insertion >= rnd - 1e-9).all()


def test_derived_scores():
    model = TwoClassLinear().eval()
    clips = torch.randn(3, *SHAPE, generator=torch.Generator().manual_seed(2))
    targets = torch.tensor([1, 0, 1])
    relevance = exact_relevance(model, clips, targets)
    engine = PerturbationEngine(model)
    kwargs = dict(granularity="tube", substrate="zero", steps=6, tube_size=(2, 3, 3))
    morf = map_curves(engine, clips, relevance, targets, mode="deletion", order="morf", **kwargs).auc()
    lerf = map_curves(engine, clips, relevance, targets, mode="deletion", order="lerf", **kwargs).auc()
    rnd = random_order_curves(engine, clips, targets, mode="deletion", **kwargs).auc()
    assert (lerf_minus_morf(lerf, morf) > 0).all()
    assert torch.allclose(lerf_minus_morf(lerf, morf), (lerf - morf) / 2)
    assert (auc_vs_random(morf, rnd) < 0).all()


def test_random_order_is_the_same_for_every_method_and_seeded():
    model = TwoClassLinear().eval()
    clips = torch.randn(2, *SHAPE)
    targets = torch.tensor([0, 1])
    engine = PerturbationEngine(model)
    a = random_order_curves(engine, clips, targets, mode="deletion", granularity="voxel", substrate="mean", steps=5, seed=3)
    b = random_order_curves(engine, clips, targets, mode="deletion", granularity="voxel", substrate="mean", steps=5, seed=3)
    c = random_order_curves(engine, clips, targets, mode="deletion", granularity="voxel", substrate="mean", steps=5, seed=4)
    assert torch.equal(a.scores, b.scores) and not torch.equal(a.scores, c.scores)
    ranks_a = map_ranks(torch.rand(2, 4, 6, 6), "voxel", "random", torch.Generator().manual_seed(3))
    ranks_b = map_ranks(torch.rand(2, 4, 6, 6), "voxel", "random", torch.Generator().manual_seed(3))
    assert torch.equal(ranks_a.ranks, ranks_b.ranks)  # the map's values do not enter a random order


def _centre_prior_maps(n: int = 3) -> torch.Tensor:
    """A symmetric centre prior (the control's map) with a per-frame profile: many cells tie up to float rounding."""
    from stabn_bench.baselines.controls import centre_prior

    clips = torch.zeros(n, *SHAPE)
    return centre_prior(None, clips, torch.zeros(n, dtype=torch.long), window_prior=torch.tensor([0.2, 0.6, 0.6, 0.2]))


def test_auc_is_invariant_to_positive_scaling_and_to_mirroring_a_symmetric_map():
    model = TwoClassLinear().eval()
    clips = torch.randn(3, *SHAPE, generator=torch.Generator().manual_seed(4))
    targets = torch.tensor([0, 1, 1])
    engine = PerturbationEngine(model)
    maps = _centre_prior_maps()
    for granularity, kwargs in [("voxel", {}), ("tube", {"tube_size": (2, 3, 3)}), ("frame", {})]:
        for mode in ("deletion", "insertion"):
            def auc(m):
                return map_curves(engine, clips, m, targets, mode=mode, order="morf", granularity=granularity,
                                  substrate="zero", steps=10, **kwargs).auc()
            base = auc(maps)
            assert torch.equal(base, auc(maps * 1.7)), (granularity, mode)
            assert torch.equal(base, auc(maps * 1e-3)), (granularity, mode)
            assert torch.equal(base, auc(maps.flip(-1))), (granularity, mode)
            assert torch.equal(base, auc(maps.flip(-2).flip(-1))), (granularity, mode)


def test_ties_within_the_relative_tolerance_form_one_group_and_distinct_values_do_not():
    from stabn_bench.metrics.ordering import TIE_RTOL, rank_scores_with_ties

    scores = torch.tensor([[1.0, 1.0 + TIE_RTOL / 10, 0.5, 0.5 * (1 + TIE_RTOL / 10), 0.1]])
    for factor in (1.0, 1.7, 1e4):
        ranks, boundaries = rank_scores_with_ties(scores * factor, "morf", torch.Generator().manual_seed(0))
        assert boundaries.tolist() == [[True, False, True, False, True, True]]
        assert set(ranks[0, :2].tolist()) == {0, 1} and set(ranks[0, 2:4].tolist()) == {2, 3} and ranks[0, 4] == 4
