"""Metrics that measure what they claim, with known answers: oracle controls, tie invariance, the substrate that
deletes, flat window placement and per-frame localisation."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from stabn_bench import baselines
from stabn_bench.benchmark.config.schema import MetricsConfig, SyntheticConfig
from stabn_bench.benchmark.data.actions import ACTIONS, WindowPlacement, window_placement
from stabn_bench.benchmark.data.synthetic import clip_rng, render_clip, window_prior
from stabn_bench.benchmark.models.outputs import VideoModelOutput
from stabn_bench.metrics.engine import PerturbationEngine
from stabn_bench.metrics.faithfulness import map_curves
from stabn_bench.metrics.localisation import (
    energy_pointing_game, native_oracle_map, pointing_game, pointing_game_native, relevance_rank_accuracy,
    temporal_auroc, temporal_auroc_vs_prior,
)
from stabn_bench.metrics.scoring import score_explanations
from stabn_bench.metrics.substrates import noisy_linear_imputation
from stabn_bench.metrics.temporal import frame_curves

N, C, T, H, W = 6, 3, 8, 16, 16


class RedDetector(nn.Module):
    """Two classes; the margin of class 0 is the mean of relu(channel 0 - 1) over the clip, weighted towards the
    frames of the middle: the evidence (bright channel 0 blobs) is what the model looks at."""

    def forward(self, x):
        frame_weight = torch.linspace(0.5, 1.5, x.shape[2], device=x.device).view(1, -1, 1, 1)
        score = (torch.relu(x[:, 0] - 1.0) * frame_weight).mean(dim=(1, 2, 3)) * 40
        return VideoModelOutput(logits=torch.stack([score, -score], dim=1))


def blob_clips(seed=0):
    """Clips of noise with a bright 4x4 blob on every frame (evidence), moving; windows of 3 frames."""
    g = torch.Generator().manual_seed(seed)
    clips = 0.3 * torch.randn(N, C, T, H, W, generator=g)
    evidence = torch.zeros(N, T, H, W)
    window = torch.zeros(N, T)
    for i in range(N):
        y, x = (int(v) for v in torch.randint(0, H - 8, (2,), generator=g))
        start = int(torch.randint(0, T - 3, (1,), generator=g))
        window[i, start:start + 3] = 1
        for t in range(T):
            evidence[i, t, y:y + 4, x + t // 2:x + t // 2 + 4] = 1
    clips[:, 0] += 3.0 * evidence * (1 + window[:, :, None, None])
    return clips, evidence, window


def explain_control(name, model, clips, evidence, window):
    truth = {"evidence": evidence, "action_window": window, "window_prior": torch.full((T,), 0.5)}
    return baselines.explain(name, model, clips, torch.zeros(N, dtype=torch.long), seed=0, ground_truth=truth)


def test_oracle_beats_random_beats_inverse_oracle_on_every_metric():
    model = RedDetector().eval()
    clips, evidence, window = blob_clips()
    targets = torch.zeros(N, dtype=torch.long)
    cfg = MetricsConfig(steps=8, tube_size=[2, 4, 4], substrate="zero", pointing_tolerance=0, batch_size=16)
    engine = PerturbationEngine(model, batch_size=16)
    means = {}
    for name in ("oracle", "random", "inverse-oracle"):
        exp = explain_control(name, model, clips, evidence, window)
        result = score_explanations(engine, clips, exp.spatiotemporal, exp.temporal, targets, targets, cfg,
                                    evidence=evidence, window=window, native_shape=exp.native_shape,
                                    window_prior=torch.full((T,), 0.5), method=name)
        means[name] = {k: float(np.nanmean(v.numpy())) for k, v in result.values.items()}
    lower_better = ("deletion_auc", "frame_deletion_auc")
    for metric in ("deletion_auc", "insertion_auc", "lerf_minus_morf", "frame_deletion_auc", "frame_insertion_auc",
                   "pointing_game", "pointing_game_native", "energy_pointing_game", "relevance_rank_accuracy",
                   "temporal_auroc", "temporal_auroc_vs_prior"):
        good, chance, bad = (means[m][metric] for m in ("oracle", "random", "inverse-oracle"))
        if metric in lower_better:
            good, chance, bad = -good, -chance, -bad
        assert good > chance > bad, (metric, good, chance, bad)
    assert means["oracle"]["pointing_game"] == 1.0 and means["oracle"]["temporal_auroc"] == 1.0
    assert means["inverse-oracle"]["temporal_auroc"] == 0.0


def test_oracles_declare_and_need_ground_truth():
    assert baselines.get_method("oracle").needs == ("evidence", "action_window")
    assert baselines.get_method("oracle").kind == baselines.get_method("inverse-oracle").kind == "oracle"
    assert baselines.get_method("centre-prior").uses == ("window_prior",)
    assert "action_window" not in baselines.get_method("oracle").defaults
    clips, _, _ = blob_clips()
    with pytest.raises(baselines.MethodError, match="needs ground truth"):
        baselines.explain("oracle", RedDetector(), clips, torch.zeros(N, dtype=torch.long))
    # the centre prior follows the placement prior where it is given, and is flat in time without it
    prior = torch.linspace(0.1, 0.9, T)
    shaped = baselines.explain("centre-prior", RedDetector(), clips, torch.zeros(N, dtype=torch.long),
                               ground_truth={"window_prior": prior})
    assert torch.allclose(shaped.temporal[0] / shaped.temporal[0].max(), prior / prior.max(), atol=1e-5)
    flat = baselines.explain("centre-prior", RedDetector(), clips, torch.zeros(N, dtype=torch.long))
    assert torch.allclose(flat.temporal, flat.temporal[:, :1].expand(N, T))


def test_auc_of_a_map_with_large_tie_groups_does_not_depend_on_the_tie_break_seed():
    model = RedDetector().eval()
    clips, evidence, _ = blob_clips()
    targets = torch.zeros(N, dtype=torch.long)
    # an upsampled 2x2 map (like Grad-CAM at a coarse layer): most voxels tied in large blocks, many exactly 0
    coarse = torch.relu(torch.randn(N, T, 2, 2, generator=torch.Generator().manual_seed(3)))
    maps = coarse.repeat_interleave(H // 2, 2).repeat_interleave(W // 2, 3)
    engine = PerturbationEngine(model, batch_size=16)
    for granularity in ("voxel", "tube"):
        for mode in ("deletion", "insertion"):
            aucs = [map_curves(engine, clips, maps, targets, mode=mode, order="morf", granularity=granularity,
                               substrate="zero", steps=10, tube_size=(2, 4, 4), seed=seed).auc() for seed in (0, 1, 2)]
            assert torch.allclose(aucs[0], aucs[1], atol=1e-6) and torch.allclose(aucs[0], aucs[2], atol=1e-6)
    # frames are crossed one per step, ties in random orders (mean of 8): close across seeds, not identical
    tied_frames = torch.tensor([[1.0, 1, 1, 0, 0, 0, 2, 2]]).expand(N, T)
    aucs = [frame_curves(engine, clips, tied_frames, targets, mode="deletion", substrate="zero", steps=8,
                         seed=seed).auc() for seed in (0, 1, 2)]
    assert torch.allclose(aucs[0].mean(), aucs[1].mean(), atol=0.01) and torch.allclose(aucs[0].mean(), aucs[2].mean(), atol=0.01)
    # a map without ties keeps one step per cell count (nothing is snapped)
    fine = torch.rand(N, T, H, W, generator=torch.Generator().manual_seed(4))
    curve = map_curves(engine, clips, fine, targets, mode="deletion", order="morf", granularity="voxel",
                       substrate="zero", steps=10, seed=0)
    assert torch.allclose(curve.fractions[0], torch.linspace(0, 1, 11, dtype=torch.float64), atol=1 / (T * H * W))


def test_fully_deleted_clip_gives_the_substrates_probability():
    model = RedDetector().eval()
    clips, evidence, _ = blob_clips()
    targets = torch.zeros(N, dtype=torch.long)
    engine = PerturbationEngine(model, batch_size=4, road_noise=0.05)
    maps = torch.rand(N, T, H, W, generator=torch.Generator().manual_seed(5))
    for substrate in ("road", "zero", "blur"):
        ends = engine.endpoints(clips, targets, substrate)
        curve = map_curves(engine, clips, maps, targets, mode="deletion", order="morf", granularity="tube",
                           substrate=substrate, steps=6, tube_size=(2, 4, 4))
        assert torch.allclose(curve.scores[:, -1], ends.substituted, atol=1e-6), substrate
        assert torch.allclose(curve.scores[:, 0], ends.clean, atol=1e-6), substrate
    # the fully imputed clip is the clip's mean colour plus the noise: the red evidence is gone
    ends = engine.endpoints(clips, targets, "road")
    assert torch.allclose(ends.substituted, torch.full((N,), 0.5), atol=0.02)
    assert (ends.clean > 0.9).all()


def test_noisy_linear_imputation_interpolates_from_kept_neighbours():
    t = torch.arange(T, dtype=torch.float32).view(1, 1, T, 1, 1)
    ramp = (t * 0.5 + 0.1 * torch.arange(W).view(1, 1, 1, 1, W)).expand(2, C, T, H, W).contiguous()
    kept = torch.ones(2, T, H, W, dtype=torch.bool)
    kept[:, 2:6, 4:12, 4:12] = False  # a hole in space and time
    filled = noisy_linear_imputation(ramp, kept, smoothing_iterations=200)
    assert torch.equal(filled[:, :, kept[0]], ramp[:, :, kept[0]])  # kept voxels are untouched
    # a linear function is harmonic: the neighbour-mean interpolation recovers it inside the hole
    assert (filled - ramp).abs().max() < 0.05
    noise = torch.randn(2, C, T, H, W, generator=torch.Generator().manual_seed(0)) * 0.1
    nothing = noisy_linear_imputation(ramp, torch.zeros(2, T, H, W, dtype=torch.bool), noise)
    assert torch.allclose(nothing, ramp.mean(dim=(2, 3, 4), keepdim=True) + noise, atol=1e-5)


@pytest.mark.parametrize("frames, shortest, longest", [(16, 6, 10), (8, 3, 6)])
def test_windows_cover_every_frame_equally_often(frames, shortest, longest):
    placement = window_placement(frames, shortest, longest)
    assert np.ptp(placement.coverage()) < 1e-3
    rng = np.random.default_rng(0)
    draws = 20000
    counts = np.zeros(frames)
    for _ in range(draws):
        start, end = placement.sample(rng)
        assert shortest <= end - start <= longest and min(end, frames) - max(start, 0) >= 2
        counts[max(start, 0):min(end, frames)] += 1
    share = counts / draws
    noise = np.sqrt(share.mean() * (1 - share.mean()) / draws)
    assert np.abs(share - share.mean()).max() < 5 * noise
    # uniform starts inside the clip (the old placement) fail the same check
    lengths = np.arange(shortest, longest + 1)
    starts = [(length, s) for length in lengths for s in range(frames - length + 1)]
    probability = np.concatenate([np.full(frames - length + 1, 1 / (len(lengths) * (frames - length + 1))) for length in lengths])
    old = WindowPlacement(frames, np.array([n for n, _ in starts]), np.array([s for _, s in starts]), probability)
    assert np.ptp(old.coverage()) > 10 * noise


@pytest.mark.parametrize("frames, shortest, longest", [(16, 6, 10), (8, 3, 6)])
def test_fixed_temporal_profile_gets_the_placement_priors_auroc(frames, shortest, longest):
    """Expected over the placement (exactly, not sampled), any fixed profile scores what the prior scores."""
    placement = window_placement(frames, shortest, longest)
    windows = torch.from_numpy(placement.covers().astype(np.float32))  # every possible window, weighted below
    weight = placement.probability

    def expected(profile):
        return float((weight * np.nan_to_num(temporal_auroc(profile.expand(len(windows), frames), windows).numpy(), nan=0.5)).sum())

    prior = torch.from_numpy(np.round(placement.coverage(), 3)).float()  # as synthetic.window_prior gives it
    prior_auroc = expected(prior)
    assert abs(prior_auroc - 0.5) < 1e-3  # a flat prior
    t = torch.arange(frames, dtype=torch.float32)
    for profile in (t, -t, -(t - (frames - 1) / 2).abs(), (t - (frames - 1) / 2).abs(), (t == 0).float()):
        assert abs(expected(profile) - prior_auroc) < 0.005
    # the old placement (uniform starts inside the clip) lets a centre profile far above chance
    lengths = np.arange(shortest, longest + 1)
    pairs = [(length, s) for length in lengths for s in range(frames - length + 1)]
    old = WindowPlacement(frames, np.array([n for n, _ in pairs]), np.array([s for _, s in pairs]),
                          np.array([1 / (len(lengths) * (frames - n + 1)) for n, _ in pairs]))
    old_windows = torch.from_numpy(old.covers().astype(np.float32))
    centre = -(t - (frames - 1) / 2).abs()
    old_auroc = float((old.probability * temporal_auroc(centre.expand(len(old_windows), frames), old_windows).numpy()).sum())
    assert old_auroc > 0.6
    per_clip = temporal_auroc_vs_prior(centre.expand(len(windows), frames), windows, prior)
    assert abs(float((weight * per_clip.numpy()).sum())) < 0.005


def test_synthetic_evidence_marks_the_target_on_every_visible_frame():
    cfg = SyntheticConfig(num_videos=8, num_frames=8, height=32, width=32, window_min=4, window_max=4, target_size=8)
    prior = window_prior(cfg, 8)
    assert prior.shape == (8,) and np.ptp(prior) < 1e-3
    outside_seen = False
    for index, key in enumerate(["left_to_right", "appearing", "closer", "down"]):
        clip = render_clip(ACTIONS[key], cfg, clip_rng(0, index))
        visible = np.array([state.alpha > 0 for state in clip.states])
        has_evidence = clip.truth.evidence.reshape(8, -1).any(axis=1)
        assert np.array_equal(has_evidence, visible)
        outside_seen |= bool((has_evidence & ~clip.truth.window_mask()).any())
    assert outside_seen  # the target is marked outside the action window too


def test_native_pointing_game_and_ceilings():
    evidence = torch.zeros(1, 2, 8, 8)
    evidence[0, :, 0:2, 0:2] = 1  # the target in the top-left corner of both frames
    coarse = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.0]]]])
    upsampled = coarse.repeat_interleave(4, 2).repeat_interleave(4, 3)  # a 4x4 tied block on the target
    assert math.isclose(pointing_game(upsampled, evidence).item(), 4 / 16)  # decided by the tied block
    assert pointing_game_native(upsampled, evidence, (2, 2, 2)).item() == 1.0  # the best native cell holds it
    assert torch.isnan(pointing_game_native(upsampled, evidence, (2, 1, 1))).all()  # a per-frame profile
    ceiling = native_oracle_map(evidence, (2, 2, 2))
    assert energy_pointing_game(ceiling, evidence).item() < 1.0  # coarse maps cannot put all mass on the target
    assert energy_pointing_game(native_oracle_map(evidence, (2, 8, 8)), evidence).item() == 1.0
    # ties in relevance rank accuracy count by expectation: a flat map scores the mask's share of the clip
    assert math.isclose(relevance_rank_accuracy(torch.ones(1, 2, 8, 8), evidence).item(), 8 / 128)
