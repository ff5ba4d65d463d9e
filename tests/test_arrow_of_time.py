"""The arrow-of-time task on real footage: splits by source video, views, static clips, the reversal check,
the motion correlation, and the preset end to end on the shipped sample clips."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from stabn_bench.benchmark.config import ConfigError, load_config
from stabn_bench.benchmark.data import build_dataset, write_video
from stabn_bench.benchmark.data.arrow_of_time import (
    clip_starts, find_videos, motion_energy, reversal_label_map, split_videos, view_indices,
)
from stabn_bench.benchmark.errors import DataError
from stabn_bench.benchmark.models.outputs import VideoModelOutput
from stabn_bench.benchmark.training import evaluate_model
from stabn_bench.metrics.motion import attention_motion_correlation, frame_motion_energy, rank_correlation

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "benchmark" / "data" / "samples" / "real"


def aot_config(root: Path, *overrides: str):
    return load_config("arrow-of-time", [f"data.root={root}", "device=cpu", *overrides])


# ------------------------------------------------------------------------------------------ pure functions


def test_split_by_video_is_a_deterministic_partition():
    names = [f"v{i:02d}" for i in range(10)]
    train, val, test = split_videos(names, [0.6, 0.2, 0.2], seed=3)
    assert sorted(train + val + test) == names
    assert (len(train), len(val), len(test)) == (6, 2, 2)
    assert split_videos(list(reversed(names)), [0.6, 0.2, 0.2], seed=3) == [train, val, test]  # order-free
    assert split_videos(names, [0.6, 0.2, 0.2], seed=4) != [train, val, test]
    # few videos: every split with a positive fraction still gets one, training keeps at least one
    assert [len(s) for s in split_videos(["a", "b", "c"], [0.1, 0.45, 0.45], 0)] == [1, 1, 1]
    assert [len(s) for s in split_videos(["a", "b"], [0.5, 0.0, 0.5], 0)] == [1, 0, 1]
    with pytest.raises(DataError, match="at least 3 source videos"):
        split_videos(["a", "b"], [0.6, 0.2, 0.2], 0)


def test_clip_starts_and_views():
    assert clip_starts(20, span=15, step=2, max_clips=0) == [0, 2, 4]
    assert clip_starts(14, span=15, step=2, max_clips=0) == []
    assert clip_starts(100, span=10, step=1, max_clips=3) == [0, 45, 90]
    assert view_indices(4, 4, 2, 0) == (4, 6, 8, 10)
    assert view_indices(4, 4, 2, 1) == (10, 8, 6, 4)
    assert view_indices(4, 4, 2, 2) == (4, 8, 12, 16)
    assert reversal_label_map(False) == [1, 0] and reversal_label_map(True) == [1, 0, -1]


def test_motion_energy_of_known_clips():
    frames = np.zeros((3, 4, 4, 3), np.uint8)
    frames[1] = 10
    frames[2] = 40
    assert np.allclose(motion_energy(frames), [10, 30], atol=1e-3)  # grey weights sum to 1


def test_frame_motion_energy_and_rank_correlation():
    clips = torch.zeros(1, 3, 4, 2, 2)
    clips[:, :, 1] = 1.0   # steps: 1, 1, 0 -> per frame: 1, (1+1)/2, (1+0)/2, 0
    assert torch.allclose(frame_motion_energy(clips), torch.tensor([[1.0, 1.0, 0.5, 0.0]]))
    a, b = torch.randn(5, 8), torch.randn(5, 8)
    expected = [spearmanr(x, y)[0] for x, y in zip(a.numpy(), b.numpy())]
    assert np.allclose(rank_correlation(a, b).numpy(), expected)
    assert torch.isnan(rank_correlation(torch.ones(1, 8), b[:1])).all()
    moving = torch.rand(2, 3, 8, 6, 6)
    assert torch.allclose(attention_motion_correlation(frame_motion_energy(moving), moving), torch.ones(2, dtype=torch.float64))
    assert torch.allclose(attention_motion_correlation(-frame_motion_energy(moving), moving), -torch.ones(2, dtype=torch.float64))


# ------------------------------------------------------------------------------------------- data sets


def test_sample_clips_are_found_recursively_and_splits_share_no_video():
    videos = find_videos(SAMPLES)
    assert len(videos) == 7 and any(v.parent.name == "bikes" for v in videos)
    cfg = aot_config(SAMPLES)
    sets = {split: build_dataset(cfg.data, split) for split in ("train", "validation", "test")}
    sources = {split: {r.video for r in ds.records} for split, ds in sets.items()}
    assert sources["train"].isdisjoint(sources["test"]) and sources["train"].isdisjoint(sources["validation"])
    assert sources["validation"].isdisjoint(sources["test"])
    assert len(set().union(*sources.values())) == 7
    for ds in sets.values():
        assert ds.classes == ["forward", "reversed"] and not ds.has_ground_truth
        labels = np.array([r.label for r in ds.records])
        assert (labels == 0).sum() == (labels == 1).sum() > 0   # every clip in both views
    again = build_dataset(aot_config(SAMPLES).data, "test")
    assert again.clip_ids == sets["test"].clip_ids


def test_reversed_view_is_the_forward_clip_backwards():
    cfg = aot_config(SAMPLES, "data.cache_decoded=false")
    ds = build_dataset(cfg.data, "test")
    forward, backward = ds[0], ds[1]
    assert forward["label"] == 0 and backward["label"] == 1
    assert forward["clip_id"].rsplit(":", 1)[0] == backward["clip_id"].rsplit(":", 1)[0]
    assert forward["clip"].shape == (3, 8, 64, 64)
    assert torch.equal(forward["clip"].flip(1), backward["clip"])
    cached = build_dataset(aot_config(SAMPLES).data, "test")
    assert torch.equal(cached[0]["clip"], forward["clip"])  # the decode cache gives the same pixels


def test_double_speed_adds_a_third_class():
    cfg = aot_config(SAMPLES, "data.arrow_of_time.double_speed=true")
    ds = build_dataset(cfg.data, "train")
    assert ds.classes == ["forward", "reversed", "double-speed"]
    assert ds.reversal_labels == [1, 0, -1]
    fast = [r for r in ds.records if r.label == 2]
    assert fast and all(np.all(np.diff(r.indices) == 2 * cfg.data.stride) for r in fast)


def _write(path: Path, frames: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, frames, fps=10)


def test_static_clips_are_dropped_and_counted(tmp_path, caplog):
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):  # moving noise: kept
        _write(tmp_path / f"{name}.mp4", rng.integers(0, 255, (12, 32, 32, 3), dtype=np.uint8))
    still = np.repeat(rng.integers(0, 255, (1, 32, 32, 3), dtype=np.uint8), 12, axis=0)
    _write(tmp_path / "deep" / "still.mp4", still)
    cfg = aot_config(tmp_path, "data.num_frames=4", "data.stride=1", "data.resize=32", "data.crop=32",
                     "data.arrow_of_time.clip_step=4", "data.arrow_of_time.split=[0.0,0.0,1.0]")
    with caplog.at_level(logging.INFO, logger="stabn_bench.data"):
        ds = build_dataset(cfg.data, "test")
    assert {r.video for r in ds.records} == {"a", "b", "c"}
    assert len(ds) == 3 * 3 * 2  # 3 moving videos x 3 clips (starts 0, 4, 8) x 2 views
    assert "dropped 3 static clips" in caplog.text


def test_bad_root_and_bad_split_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist or is not a folder"):
        build_dataset(aot_config(tmp_path / "missing").data, "test")
    with pytest.raises(DataError, match="holds no video files"):
        build_dataset(aot_config(tmp_path).data, "test")
    with pytest.raises(ConfigError, match="data.arrow_of_time.split"):
        aot_config(tmp_path, "data.arrow_of_time.split=[0.5,0.5]")
    with pytest.raises(ConfigError, match="data.source"):
        load_config("arrow-of-time", ["data.source=arrow_of_time"])


class _BrighteningIsForward(nn.Module):
    """Predicts 'forward' when the last frame is brighter than the first (a perfect arrow-of-time oracle here)."""

    def forward(self, clips: torch.Tensor) -> VideoModelOutput:
        delta = clips[:, :, -1].mean(dim=(1, 2, 3)) - clips[:, :, 0].mean(dim=(1, 2, 3))
        return VideoModelOutput(torch.stack([delta, -delta], dim=1))


def test_reverse_evaluation_flips_the_arrow_of_time_label():
    ramp = torch.linspace(0, 1, 6).view(1, 1, 6, 1, 1).expand(4, 3, 6, 4, 4)
    clips = torch.cat([ramp, ramp.flip(2)])
    labels = torch.tensor([0] * 4 + [1] * 4)
    loader = [{"clip": clips, "label": labels}]
    model = _BrighteningIsForward()
    assert evaluate_model(model, loader, "cpu")["perception"]["top1"] == 1.0
    assert evaluate_model(model, loader, "cpu", reverse=True)["perception"]["top1"] == 0.0
    flipped = evaluate_model(model, loader, "cpu", reverse=True, reversal_labels=[1, 0])
    assert flipped["perception"]["top1"] == 1.0 and flipped["perception"]["n_clips"] == 8
    # double-speed clips have no reversed class: left out
    three = [{"clip": clips, "label": torch.tensor([0, 0, 2, 2, 1, 1, 2, 2])}]
    left = evaluate_model(model, three, "cpu", reverse=True, reversal_labels=[1, 0, -1])
    assert left["perception"]["n_clips"] == 4 and left["perception"]["top1"] == 1.0


# --------------------------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_preset_runs_end_to_end_on_real_footage(tmp_path, one_thread):
    from stabn_bench.benchmark.cli import main as cli
    from stabn_bench.benchmark.pipeline.run import run_benchmark

    cfg = aot_config(SAMPLES, f"output_dir={tmp_path / 'results'}", f"checkpoint_dir={tmp_path / 'ckpt'}",
                     "train.epochs=1", "model.width=2", "explain.num_clips=2", "explain.batch_size=2",
                     "explain.methods=[stabn-attention,stabn-temporal,gradcam,random]", "explain.overlay_clips=1",
                     "metrics.steps=4", "metrics.bootstrap_resamples=20", "metrics.sanity_clips=0",
                     "report.formats=[]")
    run_dir = run_benchmark(cfg, progress=False)
    accuracy = pd.read_csv(run_dir / "accuracy.csv")
    n_test = len(build_dataset(cfg.data, "test"))
    assert set(accuracy["model"]) == {"baseline", "abn", "stabn"} and (accuracy["n_clips"] == n_test).all()
    scores = pd.read_csv(run_dir / "scores.csv")
    assert {"deletion_auc", "insertion_auc"} <= set(scores["metric"])
    assert "pointing_game" not in set(scores["metric"])  # no ground truth: not scored ...
    assert "no ground truth" in (run_dir / "summary.md").read_text()  # ... and said so
    assert pd.read_csv(run_dir / "errors.csv").empty
    checkpoint = pd.read_json(run_dir / "provenance.json", typ="series")["checkpoints"]["stabn"]["0"]
    out = tmp_path / "reversed.csv"
    assert cli(["evaluate", checkpoint, "--reverse", "--out", str(out), "--no-progress"]) == 0
    reversed_rows = pd.read_csv(out)
    assert (reversed_rows["n_clips"] == n_test).all()
