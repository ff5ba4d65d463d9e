"""The data-necessity check: views of a clip, the verdict, and known answers on generated data."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from stabn_bench.benchmark.config.schema import SyntheticConfig
from stabn_bench.benchmark.data.necessity import GREY, NecessityReport, necessity_check, probe_clips, view


def test_views_hide_what_they_promise():
    frames = torch.rand(2, 6, 3, 4, 4)
    windows = torch.tensor([[0, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]], dtype=torch.bool)
    g = torch.Generator().manual_seed(0)
    only_window = view(frames, windows, "window", g)
    assert torch.equal(only_window[windows], frames[windows]) and (only_window[~windows] == GREY).all()
    outside = view(frames, windows, "outside", g)
    assert torch.equal(outside[~windows], frames[~windows]) and (outside[windows] == GREY).all()
    ends = view(frames, windows, "endpoints", g)
    assert torch.equal(ends[:, [0, 5]], frames[:, [0, 5]]) and (ends[:, 1:5] == GREY).all()
    shuffled = view(frames, windows, "order-free", g)
    for i in range(2):  # the same frames, in another order
        assert sorted(shuffled[i].sum(dim=(1, 2, 3)).tolist()) == sorted(frames[i].sum(dim=(1, 2, 3)).tolist())
    assert not torch.equal(shuffled, frames)
    assert torch.equal(view(frames, windows, "full", g), frames)
    with pytest.raises(ValueError, match="unknown view"):
        view(frames, windows, "middle", g)


def test_verdict_bounds():
    passing = NecessityReport({"cnn": {"window": 0.9, "outside": 0.15, "endpoints": 0.12, "order-free": 0.18}},
                              num_classes=8)
    assert passing.passed and "window" in passing.table()
    leaking = NecessityReport({"cnn": {"window": 0.9, "outside": 0.15, "endpoints": 0.62, "order-free": 0.1}},
                              num_classes=8)
    assert len(leaking.failures()) == 1 and "'endpoints'" in leaking.failures()[0]
    blind = NecessityReport({"linear": {"window": 0.2}, "cnn": {"window": 0.3}}, num_classes=8)
    assert any("no probe reads the class from the window" in p for p in blind.failures())


def test_probe_clips_are_the_generated_clips_at_probe_resolution():
    cfg = SyntheticConfig(num_videos=12, num_frames=6, height=32, width=32, window_min=4, window_max=4,
                          target_size=8, seed=1)
    data = probe_clips(cfg)
    assert data.frames.shape == (12, 6, 3, 16, 16)
    assert data.windows.shape == (12, 6) and data.windows.any(dim=1).all()
    assert set(data.split.tolist()) <= {0, 1, 2} and data.labels.max() < 8


@pytest.mark.slow
def test_window_design_passes_and_endpoints_design_fails():
    """Known answers on small generated sets: in the window design only the window tells the class; in the earlier
    design the first and last frame do (the flaw the window design fixes)."""
    cfg = SyntheticConfig(num_videos=640, num_frames=8, height=32, width=32, window_min=4, window_max=4,
                          target_size=10, seed=2)
    report = necessity_check(cfg, epochs=20, views=("window", "endpoints"), probes=("cnn",))
    chance = 1 / 8
    assert report.accuracy["cnn"]["window"] >= 3 * chance
    assert report.accuracy["cnn"]["endpoints"] <= 1.5 * chance
    linear = necessity_check(cfg, views=("outside", "endpoints"), probes=("linear",))
    assert max(linear.accuracy["linear"].values()) <= 1.5 * chance
    old = necessity_check(dataclasses.replace(cfg, design="endpoints"), views=("endpoints",), probes=("linear",))
    assert old.accuracy["linear"]["endpoints"] > 1.5 * chance
