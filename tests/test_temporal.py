"""Temporal masking tests and frame-order sensitivity."""
import torch
from torch import nn

from stabn_bench.metrics.engine import PerturbationEngine
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
    # fractions are the share of frames changed; the T - 1 tied frames are changed together (never split), so
    # the steps that would split them move to the nearest end of their tie group
    torch.testing.assert_close(deletion_good.fractions[0], torch.tensor([0, 1, 1, 1, 6, 6, 6], dtype=torch.float64) / 6)
    untied = frame_curves(engine, clips, torch.arange(T, dtype=torch.float32).expand(2, T), targets, mode="deletion", **kwargs)
    torch.testing.assert_close(untied.fractions[0], torch.arange(T + 1, dtype=torch.float64) / T)


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
