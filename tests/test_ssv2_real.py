"""The Something-Something V2 path tried for real: a tiny data set in the exact SSv2 layout, made of real footage
(the shipped sample clips) re-encoded to VP9 ``.webm`` as SSv2 ships, through the SSv2 preset's data, train (one
step), explain and score stages."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from stabn_bench.benchmark.config import load_config
from stabn_bench.benchmark.data import build_dataset, read_video
from stabn_bench.benchmark.data.arrow_of_time import find_videos
from stabn_bench.benchmark.errors import StabnBenchError

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "benchmark" / "data" / "samples" / "real"
TEMPLATES = [
    "Moving [something] from left to right",
    "Putting [something] on a surface",
    "Pretending to take [something] from [somewhere]",
]
PLACEHOLDERS = [["bunny"], ["bike"], ["phone", "car"]]
PIECE = 16  # frames per SSv2 video (12 fps: about 1.3 s)


def _encode_vp9(path: Path, frames: list[np.ndarray], fps: int = 12) -> None:
    """VP9 in WebM, yuv420p, as SSv2 is distributed."""
    with av.open(str(path), mode="w", format="webm") as out:
        stream = out.add_stream("libvpx-vp9", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "30", "b": "0", "deadline": "realtime", "cpu-used": "8", "threads": "1"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _decode_pyav(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.fixture(scope="module")
def ssv2_root(tmp_path_factory) -> Path:
    """<root>/20bn-something-something-v2/<id>.webm + the four JSON files; ids are SSv2-like integers."""
    root = tmp_path_factory.mktemp("ssv2")
    videos = root / "20bn-something-something-v2"
    videos.mkdir()
    items = []
    next_id = 1000
    for source in find_videos(SAMPLES):
        frames = _decode_pyav(source)[::2]           # 25 fps -> about 12 fps, like SSv2
        for start in range(0, len(frames) - PIECE + 1, PIECE):
            next_id += 7
            _encode_vp9(videos / f"{next_id}.webm", list(frames[start:start + PIECE]))
            items.append(str(next_id))
    labels = {t.replace("[", "").replace("]", ""): str(i) for i, t in enumerate(TEMPLATES)}
    (root / "something-something-v2-labels.json").write_text(json.dumps(labels, indent=1))

    def item(clip_id: str, k: int) -> dict:
        label = TEMPLATES[k]
        for word in PLACEHOLDERS[k]:
            label = label.replace("[something]" if "[something]" in label else "[somewhere]", word, 1)
        return {"id": clip_id, "label": label.lower(), "template": TEMPLATES[k], "placeholders": PLACEHOLDERS[k]}

    splits: dict[str, list] = {"train": [], "validation": [], "test": []}
    for i, clip_id in enumerate(items):
        split = "validation" if i % 4 == 1 else "test" if i % 4 == 3 else "train"
        splits[split].append({"id": clip_id} if split == "test" else item(clip_id, i % len(TEMPLATES)))
    for split, entries in splits.items():
        (root / f"something-something-v2-{split}.json").write_text(json.dumps(entries))
    return root


def tiny_ssv2(root: Path, tmp: Path, *overrides: str):
    """The SSv2 preset shrunk to a CPU test (every key not named keeps the preset's value)."""
    return load_config("ssv2", [
        f"data.root={root}", f"output_dir={tmp / 'results'}", f"checkpoint_dir={tmp / 'ckpt'}", "device=cpu",
        "data.num_frames=4", "data.resize=40", "data.crop=32", "data.num_workers=0",
        "model.depth=18", "model.width=2", "train.epochs=1", "train.batch_size=64", "train.warmup_epochs=0",
        "explain.num_clips=2", "explain.batch_size=2", "explain.overlay_clips=1",
        "explain.methods=[stabn-attention,gradcam,saliency,occlusion,random]",
        "explain.options={occlusion: {window: [2, 16, 16], stride: [2, 16, 16]}, integrated-gradients: {n_steps: 2}}",
        "metrics.steps=4", "metrics.tube_size=[2,8,8]", "metrics.blur_sigma=2.0", "metrics.pointing_tolerance=2",
        "metrics.memory_budget_mb=256", "metrics.batch_size=8", "metrics.bootstrap_resamples=20",
        "report.formats=[]", *overrides,
    ])


def test_layout_reads_as_ssv2_and_decodes_like_pyav(ssv2_root, tmp_path):
    cfg = tiny_ssv2(ssv2_root, tmp_path)
    train = build_dataset(cfg.data, "train")
    validation = build_dataset(cfg.data, "validation")
    test = build_dataset(cfg.data, "test")
    assert train.classes == ["Moving something from left to right", "Putting something on a surface",
                             "Pretending to take something from somewhere"]
    assert {r.label for r in train.records} == {0, 1, 2} and all(r.label >= 0 for r in validation.records)
    assert {r.label for r in test.records} == {-1}  # the official test split has no labels
    assert all(r.path.suffix == ".webm" for r in train.records)
    path = train.records[0].path
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "vp9"
    reference = _decode_pyav(path)
    ours = read_video(path)
    assert ours.shape == reference.shape == (PIECE, 120, 160, 3)
    assert np.abs(ours.astype(int) - reference.astype(int)).mean() < 2.0   # two decoders, one bitstream
    item = train[0]
    assert item["clip"].shape == (3, 4, 32, 32) and item["label"] == train.records[0].label


def test_data_check_command_decodes_every_split(ssv2_root, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "stabn_bench.benchmark.cli", "data", "check", "--preset", "ssv2",
         f"data.root={ssv2_root}", "data.num_workers=0", "--splits", "train", "validation", "test"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    n_test = len(json.loads((ssv2_root / "something-something-v2-test.json").read_text()))
    assert f"test: {n_test} of {n_test} clips decode (3 classes)" in result.stdout


def test_an_unlabelled_test_split_is_refused_by_the_run(ssv2_root, tmp_path):
    from stabn_bench.benchmark.pipeline.run import run_benchmark

    with pytest.raises(StabnBenchError, match="has no labels"):
        run_benchmark(tiny_ssv2(ssv2_root, tmp_path, "data.test_split=test"), progress=False)


@pytest.mark.slow
def test_ssv2_preset_trains_one_step_explains_and_scores(ssv2_root, tmp_path, one_thread):
    from stabn_bench.benchmark.pipeline.run import run_benchmark

    cfg = tiny_ssv2(ssv2_root, tmp_path)
    assert cfg.data.source == "ssv2" and cfg.data.test_split == "validation"
    run_dir = run_benchmark(cfg, progress=False)
    n_train = len(build_dataset(cfg.data, "train"))
    from stabn_bench.benchmark.training import checkpoint_folder

    for model in cfg.train.models:
        history = pd.read_csv(checkpoint_folder(cfg, model) / "metrics.csv")
        assert len(history) == 1  # one epoch ...
    assert n_train <= cfg.train.batch_size  # ... of one step
    accuracy = pd.read_csv(run_dir / "accuracy.csv")
    assert set(accuracy["model"]) == {"baseline", "abn", "stabn"}
    assert (accuracy["n_clips"] == len(build_dataset(cfg.data, "validation"))).all()
    scores = pd.read_csv(run_dir / "scores.csv", dtype={"clip_id": str})
    assert pd.read_csv(run_dir / "errors.csv").empty
    explained = scores[scores["method"] != "-"]
    assert set(explained["method"]) == {"stabn-attention", "gradcam", "saliency", "occlusion", "random"}
    assert {"deletion_auc", "insertion_auc", "frame_deletion_auc"} <= set(explained["metric"])
    # Spearman of a constant map (a tiny model's Grad-CAM may be all zero) is undefined: only that may be NaN
    undefined = explained["value"].isna()
    assert set(explained.loc[undefined, "metric"]) <= {"randomisation_spearman"}
    assert len(set(explained["clip_id"])) == 2
    assert "no ground truth" in (run_dir / "summary.md").read_text()
