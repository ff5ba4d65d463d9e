"""Loading real and synthetic data: readers, sampling, transforms, collate, CLI."""
from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from stabn_bench.benchmark.config.schema import DataConfig, SyntheticConfig
from stabn_bench.benchmark.data import (
    IMAGENET_MEAN,
    ClipTransform,
    DecodeFailure,
    build_dataset,
    collate_clips,
    consecutive_indices,
    csv_dataset,
    denormalize,
    folder_dataset,
    load_ground_truth,
    normalize,
    uniform_indices,
    write_video,
)
from stabn_bench.benchmark.data.collate import SkipReport
from stabn_bench.benchmark.errors import DataError

SYNTH = SyntheticConfig(num_videos=16, num_frames=8, height=32, width=32, window_min=4, window_max=4,
                        target_size=8, seed=1)


def data_config(root: Path, **changes) -> DataConfig:
    base = DataConfig(source="synthetic", root=str(root), synthetic=SYNTH, num_frames=8, resize=32, crop=32)
    return dataclasses.replace(base, **changes)


def coloured_video(num_frames: int = 8, height: int = 32, width: int = 32) -> np.ndarray:
    """(T, H, W, 3) uint8: frame t is filled with grey level 20 * t + 10 (frame order is visible in the pixels)."""
    frames = np.zeros((num_frames, height, width, 3), dtype=np.uint8)
    for t in range(num_frames):
        frames[t] = (20 * t + 10) % 250
    return frames


def noise_video(num_frames: int, size: int = 32) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (num_frames, size, size, 3), dtype=np.uint8)


# ------------------------------------------------------------------------------------------- sampling


def test_uniform_sampling_takes_segment_centres_and_random_frames_in_segments():
    assert uniform_indices(16, 8, train=False).tolist() == [1, 3, 5, 7, 9, 11, 13, 15]
    assert uniform_indices(8, 8, train=False).tolist() == list(range(8))
    assert uniform_indices(4, 8, train=False).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    generator = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(50):
        indices = uniform_indices(32, 8, train=True, generator=generator)
        assert np.all(indices // 4 == np.arange(8))  # one frame in each segment of 4
        seen.add(tuple(indices))
    assert len(seen) > 10


def test_consecutive_sampling_is_centred_strided_and_clamped():
    assert consecutive_indices(20, 4, 2, train=False).tolist() == [6, 8, 10, 12]
    assert consecutive_indices(5, 4, 2, train=False).tolist() == [0, 2, 4, 4]
    generator = torch.Generator().manual_seed(0)
    starts = {int(consecutive_indices(20, 4, 2, True, generator)[0]) for _ in range(100)}
    assert starts == set(range(0, 14))


# ------------------------------------------------------------------------------------------- transforms


def square_clip(height=40, width=50, top=10, left=30, size=10):
    frames = np.full((4, height, width, 3), 60, dtype=np.uint8)
    mask = np.zeros((4, height, width), dtype=bool)
    frames[:, top:top + size, left:left + size] = 255
    mask[:, top:top + size, left:left + size] = True
    return frames, mask


def test_random_crop_moves_clip_and_mask_together():
    frames, mask = square_clip()
    transform = ClipTransform(resize=40, crop=24, train=True, horizontal_flip=True)
    crops = set()
    torch.manual_seed(0)
    for _ in range(30):
        out = transform(frames, mask)
        assert out["clip"].shape == (3, 4, 24, 24) and out["evidence"].shape == (4, 24, 24)
        white = denormalize(out["clip"]).mean(0) > 0.99
        assert torch.equal(white, out["evidence"].bool())
        crops.add(tuple(out["evidence"].sum((0, 1)).tolist()))
    assert len(crops) > 3  # offsets (and flips) vary


def test_resize_uses_nearest_for_the_mask_and_centre_crop_is_centred():
    frames, mask = square_clip(height=64, width=80, top=16, left=40, size=16)
    out = ClipTransform(resize=32, crop=32, train=False)(frames, mask)
    evidence = out["evidence"]
    assert set(evidence.unique().tolist()) == {0.0, 1.0}
    # 64x80 -> 32x40, centre crop removes 4 columns on the left: the square lands at rows 8..15, columns 16..23
    expected = torch.zeros(32, 32)
    expected[8:16, 16:24] = 1
    assert torch.equal(evidence[0], expected)
    white = denormalize(out["clip"]).mean(0)[0] > 0.9
    assert (white & expected.bool()).sum() >= 0.9 * expected.sum()


def test_colour_jitter_changes_the_clip_not_the_mask_and_only_when_training():
    frames, mask = square_clip(height=32, width=32, top=4, left=4, size=8)
    torch.manual_seed(0)
    plain = ClipTransform(32, 32, train=True)(frames, mask)
    jittered = ClipTransform(32, 32, train=True, color_jitter=0.4)(frames, mask)
    assert torch.equal(plain["evidence"], jittered["evidence"])
    assert not torch.allclose(plain["clip"], jittered["clip"])
    evaluation = ClipTransform.from_config(DataConfig(resize=32, crop=32, color_jitter=0.4), train=False)
    assert torch.allclose(evaluation(frames, mask)["clip"], plain["clip"])


def test_normalisation_round_trips_and_uses_imagenet_statistics():
    clips = torch.rand(2, 3, 4, 8, 8)
    assert torch.allclose(denormalize(normalize(clips)), clips, atol=1e-6)
    frames = np.full((1, 4, 4, 3), 255, dtype=np.uint8)
    out = ClipTransform(4, 4, train=False)(frames)
    assert torch.allclose(out["clip"][:, 0, 0, 0], (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor((0.229, 0.224, 0.225)))


# ------------------------------------------------------------------------------------------- synthetic + SSv2


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data") / "cache"


def test_synthetic_items_follow_the_contract(synth_root):
    cfg = data_config(synth_root, num_frames=4)
    dataset = build_dataset(cfg, "train", progress=False)
    assert dataset.num_classes == 8 and len(dataset.classes) == 8 and dataset.has_ground_truth
    item = dataset[0]
    assert item["clip"].shape == (3, 4, 32, 32) and item["clip"].dtype == torch.float32
    assert item["evidence"].shape == (4, 32, 32) and item["window"].shape == (4,)
    assert isinstance(item["label"], int) and isinstance(item["clip_id"], str)
    truth = load_ground_truth(dataset.records[0].path.parent.parent, item["clip_id"])
    indices = uniform_indices(SYNTH.num_frames, 4, train=False)
    assert item["window"].tolist() == truth.window_mask()[indices].astype(float).tolist()
    assert torch.equal(item["evidence"], torch.from_numpy(truth.evidence[indices]).float())
    sizes = [len(build_dataset(cfg, split, progress=False)) for split in ("train", "validation", "test")]
    assert sum(sizes) == SYNTH.num_videos and min(sizes) > 0


def test_cached_decoding_gives_the_same_items(synth_root):
    plain = build_dataset(data_config(synth_root), "test", progress=False)
    cached = build_dataset(data_config(synth_root, cache_decoded=True), "test", progress=False)
    for i in range(len(plain)):
        a, b = plain[i], cached[i]
        assert torch.equal(a["clip"], b["clip"]) and torch.equal(a["evidence"], b["evidence"])
    assert len(cached._cache) == len(cached)


def test_training_dataloader_batches_with_workers(synth_root):
    dataset = build_dataset(data_config(synth_root), "train", train=True, progress=False)
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, num_workers=2, collate_fn=collate_clips)
    batches = list(loader)
    assert sum(len(b["clip_id"]) for b in batches) == len(dataset)
    batch = batches[0]
    assert batch["clip"].shape == (4, 3, 8, 32, 32) and batch["label"].dtype == torch.int64
    assert batch["evidence"].shape == (4, 8, 32, 32) and batch["window"].shape == (4, 8) and batch["skipped"] == []


def write_ssv2(root: Path, with_test_labels: bool = False) -> Path:
    """An SSv2-layout data set as distributed: webm (VP9) videos, labels without brackets, test without labels."""
    (root / "20bn-something-something-v2").mkdir(parents=True)
    for clip_id in ("101", "102", "103"):
        write_video(root / "20bn-something-something-v2" / f"{clip_id}.webm", coloured_video(12), fps=12, container="webm")
    (root / "something-something-v2-labels.json").write_text(json.dumps(
        {"Pushing something from left to right": "0", "Putting something on a surface": "1"}))
    (root / "something-something-v2-train.json").write_text(json.dumps([
        {"id": "101", "label": "pushing pen from left to right", "template": "Pushing [something] from left to right",
         "placeholders": ["pen"]},
        {"id": "102", "label": "putting cup on a surface", "template": "Putting [something] on a surface",
         "placeholders": ["cup"]},
    ]))
    (root / "something-something-v2-validation.json").write_text(json.dumps([]))
    (root / "something-something-v2-test.json").write_text(json.dumps([{"id": "103"}]))
    return root


def test_ssv2_reader_on_the_official_layout_with_webm(tmp_path):
    root = write_ssv2(tmp_path / "ssv2")
    cfg = DataConfig(source="ssv2", root=str(root), num_frames=4, resize=32, crop=32)
    train = build_dataset(cfg, "train")
    assert train.classes == ["Pushing something from left to right", "Putting something on a surface"]
    assert [r.label for r in train.records] == [0, 1] and not train.has_ground_truth
    item = train[0]
    assert item["clip"].shape == (3, 4, 32, 32) and "evidence" not in item
    # uniform eval sampling of 12 frames into 4: frames 1, 4, 7, 10 (grey levels 20 t + 10)
    levels = denormalize(item["clip"]).mean(dim=(0, 2, 3)) * 255
    assert torch.allclose(levels, torch.tensor([30.0, 90.0, 150.0, 210.0]), atol=4)
    test = build_dataset(cfg, "test")
    assert [r.label for r in test.records] == [-1] and test[0]["label"] == -1
    # a split without labels cannot be trained on: a one-line error naming the item, not a loss on label -1
    with pytest.raises(DataError, match=r"test.json' item id 103 has no \"template\""):
        build_dataset(cfg, "test", train=True)


def test_csv_label_missing_from_the_training_split_is_an_error_unless_classes_are_inferred(tmp_path):
    write_video(tmp_path / "a.mp4", coloured_video(8), fps=8)
    (tmp_path / "train.csv").write_text("path,label\na.mp4,jump\na.mp4,run\n")
    (tmp_path / "test.csv").write_text("path,label\na.mp4,jmup\n")
    cfg = DataConfig(source="csv", root=str(tmp_path), num_frames=8, resize=32, crop=32)
    with pytest.raises(DataError, match=r"unknown label 'jmup' .*infer_classes=true.*did you mean 'jump'"):
        csv_dataset(tmp_path, "test", cfg)
    inferred = csv_dataset(tmp_path, "test", dataclasses.replace(cfg, infer_classes=True))
    assert inferred.classes == ["jmup", "jump", "run"] and inferred.records[0].label == 0


def test_csv_and_folder_readers(tmp_path):
    for split, names in {"train": ["a", "b", "c"], "test": ["d"]}.items():
        for name, label in zip(names, ["jump", "run", "jump"]):
            path = tmp_path / "folders" / split / label / f"{name}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_video(path, coloured_video(8), fps=8)
    (tmp_path / "train.csv").write_text("path,label\nfolders/train/jump/a.mp4,jump\nfolders/train/run/b.mp4,run\n")
    cfg = DataConfig(num_frames=8, resize=32, crop=32)
    csv_set = csv_dataset(tmp_path, "train", cfg)
    assert csv_set.classes == ["jump", "run"] and [r.label for r in csv_set.records] == [0, 1]
    assert csv_set[1]["clip"].shape == (3, 8, 32, 32) and csv_set[1]["clip_id"] == "folders/train/run/b"
    folders = folder_dataset(tmp_path / "folders", "train", cfg)
    assert folders.classes == ["jump", "run"] and len(folders) == 3
    assert [r.clip_id for r in folders.records] == ["jump/a", "jump/c", "run/b"]
    assert [r.label for r in folder_dataset(tmp_path / "folders", "test", cfg).records] == [0]


# ------------------------------------------------------------------------------------------- bad input


@pytest.fixture
def broken_videos(tmp_path) -> dict[str, Path]:
    good = tmp_path / "good.mp4"
    write_video(good, noise_video(16), fps=8)
    webm = tmp_path / "good.webm"
    write_video(webm, noise_video(30), fps=8, container="webm")
    paths = {"missing": tmp_path / "missing.mp4", "empty": tmp_path / "empty.mp4",
             "truncated_mp4": tmp_path / "truncated.mp4", "truncated_webm": tmp_path / "truncated.webm",
             "undecodable": tmp_path / "undecodable.mp4"}
    paths["empty"].write_bytes(b"")
    paths["truncated_mp4"].write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    paths["truncated_webm"].write_bytes(webm.read_bytes()[: webm.stat().st_size // 3])
    paths["undecodable"].write_bytes(b"this is not a video " * 50)
    return paths


@pytest.mark.parametrize("case, problem", [
    ("missing", "does not exist"),
    ("empty", "is empty"),
    ("truncated_mp4", "cannot be decoded"),
    ("truncated_webm", "is truncated"),
    ("undecodable", "cannot be decoded"),
])
def test_bad_video_files_give_one_line_errors_naming_the_path(broken_videos, case, problem):
    from stabn_bench.benchmark.data import VideoFile
    from stabn_bench.benchmark.errors import DataError

    with pytest.raises(DataError) as info:
        VideoFile(broken_videos[case]).read()
    message = str(info.value)
    assert str(broken_videos[case]) in message and problem in message and "\n" not in message


def test_bad_annotations_and_roots_are_named(tmp_path):
    from stabn_bench.benchmark.errors import DataError

    root = write_ssv2(tmp_path / "ssv2")
    cfg = DataConfig(source="ssv2", root=str(root), num_frames=4, resize=32, crop=32)
    with pytest.raises(DataError, match=r"something-something-v2-validation.json.*is empty.*'validation' has no clips"):
        build_dataset(cfg, "validation")
    train = root / "something-something-v2-train.json"
    train.write_text(json.dumps([{"id": "101", "template": "Pushing [something] from left to rigth"}]))
    with pytest.raises(DataError) as info:
        build_dataset(cfg, "train")
    assert str(train) in str(info.value) and "Pushing something from left to rigth" in str(info.value)
    assert "did you mean 'Pushing something from left to right'" in str(info.value)
    with pytest.raises(DataError, match="not a Something-Something V2 root: missing"):
        build_dataset(dataclasses.replace(cfg, root=str(tmp_path)), "train")
    with pytest.raises(DataError, match="does not exist"):
        build_dataset(dataclasses.replace(cfg, root=str(tmp_path / "nowhere")), "train")
    with pytest.raises(DataError, match=r"split file .*something-something-v2-dev.json' does not exist"):
        build_dataset(cfg, "dev")
    (tmp_path / "train.csv").write_text("path,label\nx.mp4,jump\n")
    (tmp_path / "classes.txt").write_text("run\nwalk\n")
    with pytest.raises(DataError, match=r"train.csv' row 'x.mp4' has unknown label 'jump'"):
        csv_dataset(tmp_path, "train", cfg)
    (tmp_path / "test.csv").write_text("path,label\n")
    with pytest.raises(DataError, match=r"test.csv' is empty"):
        csv_dataset(tmp_path, "test", cfg)
    with pytest.raises(DataError, match=r"split folder .*train' does not exist"):
        folder_dataset(tmp_path / "ssv2", "train", cfg)


def test_undecodable_clips_are_skipped_and_reported_never_replaced(tmp_path):
    root = write_ssv2(tmp_path / "ssv2")
    broken = root / "20bn-something-something-v2" / "102.webm"
    broken.write_bytes(broken.read_bytes()[:100])
    cfg = DataConfig(source="ssv2", root=str(root), num_frames=4, resize=32, crop=32)
    dataset = build_dataset(cfg, "train")
    failure = dataset[1]
    assert isinstance(failure, DecodeFailure) and failure.clip_id == "102"
    batch = collate_clips([dataset[0], dataset[1]])
    assert batch["clip_id"] == ["101"] and batch["clip"].shape[0] == 1 and batch["label"].tolist() == [0]
    assert len(batch["skipped"]) == 1 and batch["skipped"][0].startswith(f"{broken}: ")
    empty = collate_clips([failure])
    assert empty["clip"].numel() == 0 and empty["clip_id"] == [] and len(empty["skipped"]) == 1
    report = SkipReport()
    report.update(batch)
    report.update(empty)
    report.write(tmp_path / "skipped.csv")
    lines = (tmp_path / "skipped.csv").read_text().splitlines()
    assert lines[0] == "path,reason" and len(lines) == 2 and lines[1].startswith(str(broken))
    from stabn_bench.benchmark.errors import DataError

    with pytest.raises(DataError, match="102.webm"):
        build_dataset(dataclasses.replace(cfg, skip_undecodable=False), "train")[1]


# ------------------------------------------------------------------------------------------- CLI


@pytest.fixture
def run_cli(capsys):
    """Run ``stabn-bench ARGS`` in this process: (exit code, stdout, stderr)."""
    from stabn_bench.benchmark.cli import main

    def run(*args: str) -> subprocess.CompletedProcess:
        code = main(list(args))
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, captured.out, captured.err)

    return run


def test_cli_synth_show_and_errors(tmp_path, run_cli):
    out = tmp_path / "synth"
    proc = run_cli("data", "synth", "--preset", "smoke", "--out", str(out), "--num-videos", "16", "--seed", "5",
                   "--container", "webm", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "16 clips, 8 classes" in proc.stdout
    assert len(list((out / "20bn-something-something-v2").glob("*.webm"))) == 16
    assert json.loads((out / "synthetic.json").read_text())["parameters"]["seed"] == 5
    png = tmp_path / "grid.png"
    proc = run_cli("data", "show", str(out), "--out", str(png), "--per-class", "1", "--frames", "4")
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    proc = run_cli("data", "synth", "--preset", "smoke", "--out", str(out), "--no-progress")
    assert proc.returncode == 1 and "already exists" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("data", "synth", "--preset", "smoke", "--out", str(tmp_path / "x"), "--num-videos", "0")
    assert proc.returncode == 2 and "data.synthetic.num_videos" in proc.stderr
    proc = run_cli("data", "show", str(tmp_path / "nowhere"), "--out", str(png))
    assert proc.returncode == 1 and "nowhere" in proc.stderr and "Traceback" not in proc.stderr


def test_perf_data_prints_clips_per_second(tmp_path, run_cli):
    proc = run_cli("perf", "data", "--preset", "smoke", "--workers", "0", "--clips", "8", f"data.root={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if "clips/s" not in line and "every epoch" in line]
    assert len(rows) == 1 and float(rows[0][-2]) > 0
