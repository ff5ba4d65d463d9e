"""Temporal masking tests and frame-order sensitivity."""
import torch
from torch import nn

from stabn_bench.metrics.engine import PerturbationEngine
from stabn_bench.metrics.ordering import frame_ranks
from stabn_bench.metrics.temporal import frame_curves, keep_count, keep_top_k_frames, order_sensitivity, reverse_frames, shuffle_frames

T = 6


class FrameWeighted(nn.Module):
    """Class 0 logit = sum_t w_t * mean(frame t), class 1 = its negative: order matters (w increases with t)."""

    def __init__(self, weights):
        super().__init__()
        self.register_buffer("w", torch.as_tensor(weights, dtype=torch.float32))

    def forward(self, x):
        score = (x.mean(dim=(1, 3, 4)) * self.w).sum(dim=1)
        return torch.stack([score, -score], dim=1)


def test_frame_deletion_by_true_importance_beats_reverse_importance():
    # only frame 2 carries evidence
    weights = torch.zeros(T)
    weights[2] = 5.0
    model = FrameWeighted(weights).eval()
    clips = torch.full((2, 3, T, 4, 4), 1.0)
    targets = torch.tensor([0, 0])
    engine = PerturbationEngine(model)
    good = torch.zeros(2, T)
    good[:, 2] = 1.0
    kwargs = dict(substrate="zero", steps=T)
    deletion_good = frame_curves(engine, clips, good, targets, mode="deletion", **kwargs)
    deletion_bad = frame_curves(engine, clips, -good, targets, mode="deletion", **kwargs)
    assert deletion_good.scores.shape == (2, T + 1)
    # after the first step the evidence frame is gone: probability 0.5 from then on
    torch.testing.assert_close(deletion_good.scores[:, 1:], torch.full((2, T), 0.5))
    assert (deletion_good.auc() < deletion_bad.auc()).all()
    insertion_good = frame_curves(engine, clips, good, targets, mode="insertion", **kwargs)
    insertion_bad = frame_curves(engine, clips, -good, targets, mode="insertion", **kwargs)
    assert (insertion_good.auc() > insertion_bad.auc()).all()
    # fractions are the share of frames changed: one frame per step, the T - 1 tied frames too
    torch.testing.assert_close(deletion_good.fractions[0], torch.arange(T + 1, dtype=torch.float64) / T)
    untied = frame_curves(engine, clips, torch.arange(T, dtype=torch.float32).expand(2, T), targets, mode="deletion", **kwargs)
    torch.testing.assert_close(untied.fractions[0], torch.arange(T + 1, dtype=torch.float64) / T)


class AllFramesNeeded(nn.Module):
    """Class 0 wins only while every evidence frame (2..5) is intact: evidence that counts only together, like the
    synthetic window, where one missing corner leaves the loop ambiguous."""

    def forward(self, x):
        present = (x[:, 0, 2:6].mean(dim=(2, 3)) > 0.5).float()  # (N, 4)
        score = 4.0 * present.prod(dim=1) - 2.0
        return torch.stack([score, -score], dim=1)


def test_tied_evidence_frames_that_count_only_together_beat_a_random_order():
    """The oracle ranks its 4 window frames alike. Crossed as one block with a straight line, their deletion curve
    would fall linearly over the window (AUC near that of a random order); crossed one frame per step, it falls to
    the floor at the first window frame, as it does for this model under every order of the tie."""
    t = 8
    model = AllFramesNeeded().eval()
    clips = torch.ones(12, 3, t, 4, 4)
    targets = torch.zeros(12, dtype=torch.long)
    oracle = torch.zeros(12, t)
    oracle[:, 2:6] = 1.0
    engine = PerturbationEngine(model)
    kwargs = dict(mode="deletion", substrate="zero", steps=t)
    good = frame_curves(engine, clips, oracle, targets, **kwargs)
    bad = frame_curves(engine, clips, -oracle, targets, **kwargs)
    rand = frame_curves(engine, clips, torch.zeros(12, t), targets, order="random", **kwargs)
    low = float(torch.sigmoid(torch.tensor(-4.0)))
    torch.testing.assert_close(good.scores[:, 1:], torch.full((12, t), low))  # every order: gone after one frame
    assert (good.auc() <= rand.auc() + 1e-6).all() and good.auc().mean() < rand.auc().mean() < bad.auc().mean()
    # the straight line across the block (the map curves' tie rule) would rank the oracle below a random order
    ranks = frame_ranks(oracle, "morf", torch.Generator().manual_seed(0))
    snapped = engine.curves(clips, ranks, targets, "deletion", "zero", t, snap_ties=True)
    assert snapped.auc().mean() > rand.auc().mean()
    # keep-top-k with k = the window keeps exactly the tie group: the evidence is whole
    kept = keep_top_k_frames(engine, clips, oracle, targets, targets, k=4, substrate="zero")
    assert kept["keep_top_k_accuracy"].tolist() == [1.0] * 12
    # k = 2 cuts the tie group: no order of it keeps the evidence whole
    cut = keep_top_k_frames(engine, clips, oracle, targets, targets, k=2, substrate="zero")
    assert cut["keep_top_k_accuracy"].tolist() == [0.0] * 12


def test_tie_orders_are_averaged_and_each_is_a_permutation_inside_its_group():
    scores = torch.tensor([[3.0, 1, 1, 1, 2, 2, 0, 1]])
    ranks = frame_ranks(scores, "morf", torch.Generator().manual_seed(0))
    seen = set()
    generator = torch.Generator().manual_seed(1)
    for _ in range(30):
        other = ranks.reorder_ties(generator)
        order = other.ranks.view(-1).tolist()
        seen.add(tuple(order))
        assert sorted(order) == list(range(8))
        assert order[0] == 0 and {order[4], order[5]} == {1, 2} and order[6] == 7  # groups stay in place
        assert {order[i] for i in (1, 2, 3, 7)} == {3, 4, 5, 6}
        torch.testing.assert_close(other.voxels_per_rank, ranks.voxels_per_rank)
    assert len(seen) > 10  # 2 x 4! = 48 orders possible
    untied = frame_ranks(torch.arange(8.0)[None], "morf", torch.Generator().manual_seed(0))
    assert not untied.has_ties and untied.reorder_ties(generator) is untied
    # a model that weighs frames additively: the mean over tie orders is the same for every seed up to the
    # sampling of the orders, and identical for every seed where a whole tie group has been crossed
    model = FrameWeighted(torch.tensor([0.0, 1, 1, 1, 1, 1])).eval()
    clips = torch.ones(3, 3, T, 4, 4)
    tied = torch.tensor([[1.0, 1, 1, 0, 0, 0]]).expand(3, T)
    curves = [frame_curves(PerturbationEngine(model), clips, tied, torch.zeros(3, dtype=torch.long), mode="deletion",
                           substrate="zero", steps=T, seed=seed, tie_orders=4) for seed in range(3)]
    assert max(float((c.auc() - curves[0].auc()).abs().max()) for c in curves) < 0.05
    for c in curves:  # after 3 frames the first tie group is gone whatever its order
        torch.testing.assert_close(c.scores[:, 3], curves[0].scores[:, 3])


def test_frame_steps_are_capped_at_the_number_of_frames():
    model = FrameWeighted(torch.ones(T)).eval()
    curves = frame_curves(PerturbationEngine(model), torch.randn(1, 3, T, 4, 4), torch.rand(1, T), torch.tensor([0]),
                          mode="deletion", substrate="mean_frame", steps=50)
    assert curves.scores.shape == (1, T + 1)


def test_keep_top_k_keeps_the_evidence_frame():
    weights = torch.zeros(T)
    weights[4] = 5.0
    model = FrameWeighted(weights).eval()
    clips = torch.full((2, 3, T, 4, 4), -1.0)
    labels = torch.tensor([1, 1])  # without the evidence frame the logits tie and argmax says 0
    importance = torch.zeros(2, T)
    importance[0, 4] = 1.0  # clip 0: right frame; clip 1: frame 0 (wrong)
    importance[1, 0] = 1.0
    out = keep_top_k_frames(PerturbationEngine(model), clips, importance, labels, labels, k=1, substrate="zero")
    assert out["keep_top_k_accuracy"].tolist() == [1.0, 0.0]
    assert out["keep_top_k_probability"][0] > 0.99 and abs(float(out["keep_top_k_probability"][1]) - 0.5) < 1e-6
    # with the frozen substrate the kept frame is repeated everywhere: the evidence then fills the clip
    frozen = keep_top_k_frames(PerturbationEngine(model), clips, importance, labels, labels, k=1, substrate="frozen")
    assert frozen["keep_top_k_accuracy"][0] == 1.0
    assert keep_count(16, 0.25) == 4 and keep_count(3, 0.1) == 1


def test_order_sensitivity_of_an_order_dependent_and_an_order_free_model():
    clips = torch.zeros(3, 3, T, 4, 4)
    clips[:, :, : T // 2] = 1.0  # bright first half
    order_dependent = FrameWeighted(torch.linspace(-1, 1, T)).eval()
    order_free = FrameWeighted(torch.ones(T) * 0.5).eval()
    dependent = order_sensitivity(PerturbationEngine(order_dependent), clips, seed=0)
    free = order_sensitivity(PerturbationEngine(order_free), clips, seed=0)
    assert dependent["reverse_prediction_change"].tolist() == [1.0, 1.0, 1.0]
    assert free["reverse_prediction_change"].tolist() == [0.0, 0.0, 0.0]
    assert free["shuffle_prediction_change"].tolist() == [0.0, 0.0, 0.0]


def test_shuffle_is_never_the_identity_and_reverse_flips():
    clips = torch.arange(T, dtype=torch.float32).view(1, 1, T, 1, 1).expand(50, 1, T, 1, 1)
    shuffled = shuffle_frames(clips, torch.Generator().manual_seed(0))
    assert not (shuffled[:, 0, :, 0, 0] == torch.arange(T)).all(dim=1).any()
    assert torch.equal(shuffled.sort(dim=2).values, clips)
    assert reverse_frames(clips)[0, 0, :, 0, 0].tolist() == list(range(T))[::-1]
