"""Something-Else boxes as SSv2 ground truth: the documented JSON format over the shipped real clips, read through
the SSv2 data path (resize and crop), clips without boxes counted and left out of localisation."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from stabn_bench.benchmark.config import load_config
from stabn_bench.benchmark.data import build_dataset
from stabn_bench.benchmark.data.sampling import sample_indices
from stabn_bench.benchmark.data.something_else import evidence_from_boxes, frame_number, read_annotations
from stabn_bench.benchmark.errors import ConfigError, StabnBenchError
from stabn_bench.metrics.localisation import pointing_game

SAMPLES = Path(__file__).resolve().parents[1] / "benchmark" / "data" / "samples" / "real"
#: clip id -> shipped sample (carphone: 120 frames, bikes shot 1: 30 frames, shot 2: 46 frames; all 160x120)
CLIPS = {"101": "carphone.mp4", "102": "bikes/shot-1.mp4", "103": "bikes/shot-2.mp4"}
TEMPLATE = "Moving [something] from left to right"


def _frame(video: str, number: int, boxes: list[tuple[float, float, float, float, str]]) -> dict:
    """One per-frame annotation in the documented format (joaanna/something_else README)."""
    return {"name": f"{video}/{number:04d}.jpg", "gt_placeholders": ["phone"], "nr_instances": len(boxes),
            "labels": [{"box2d": {"x1": x1, "x2": x2, "y1": y1, "y2": y2}, "category": c} for x1, x2, y1, y2, c in boxes]}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ssv2-boxes")
    videos = root / "20bn-something-something-v2"
    videos.mkdir()
    for clip_id, sample in CLIPS.items():
        shutil.copy(SAMPLES / sample, videos / f"{clip_id}.mp4")
    (root / "something-something-v2-labels.json").write_text(json.dumps({TEMPLATE.replace("[", "").replace("]", ""): "0"}))
    items = [{"id": c, "label": "moving phone from left to right", "template": TEMPLATE, "placeholders": ["phone"]}
             for c in CLIPS]
    for split in ("train", "validation", "test"):
        (root / f"something-something-v2-{split}.json").write_text(json.dumps(items))
    annotations = {
        # every frame: an object box and a hand box (pixels of the 160x120 video)
        "101": [_frame("101", k, [(40.0, 80.0, 20.0, 60.0, "phone"), (100.0, 120.0, 90.0, 110.0, "hand")])
                for k in range(1, 121)],
        # the first 15 frames only
        "102": [_frame("102", k, [(60.0, 100.0, 40.0, 80.0, "hand")]) for k in range(1, 16)],
        # "103": no boxes at all
    }
    (root / "bounding_box_smthsmth_part1.json").write_text(json.dumps(annotations))
    return root


def _config(root: Path, tmp: Path, *overrides: str):
    return load_config("ssv2", [f"data.root={root}", f"output_dir={tmp}/results", f"checkpoint_dir={tmp}/ckpt",
                                "data.num_frames=4", "data.resize=60", "data.crop=48", "data.num_workers=0",
                                *overrides])


def test_boxes_cover_the_pixels_whose_centres_they_contain():
    assert frame_number("2/0001.jpg") == 0 and frame_number("13201/0049.jpg") == 48
    frames = [_frame("7", 1, [(2.0, 5.0, 1.0, 3.0, "hand")]), _frame("7", 3, [(-4.0, 1.2, 2.6, 99.0, "cup")]),
              _frame("7", 9, [(0.0, 5.0, 0.0, 5.0, "beyond the video")])]
    mask = evidence_from_boxes(frames, 4, 5, 6)
    expected = np.zeros((4, 5, 6), bool)
    expected[0, 1:3, 2:5] = True  # columns 2..4 (centres 2.5, 3.5, 4.5), rows 1..2
    expected[2, 3:5, 0:1] = True  # clipped to the frame
    assert np.array_equal(mask, expected)


def test_boxes_land_on_the_right_pixels_after_resize_and_crop(root, tmp_path):
    cfg = _config(root, tmp_path, f"data.ground_truth=something-else:{root / 'bounding_box_smthsmth_part1.json'}")
    data = build_dataset(cfg.data, "validation")
    assert data.has_ground_truth
    item = data[0]  # clip 101, 160x120 -> short side 60 (x0.5: 80x60) -> centre crop 48 (top 6, left 16)
    evidence = item["evidence"].numpy() > 0.5
    expected = np.zeros((48, 48), bool)
    expected[10 - 6:30 - 6, 20 - 16:40 - 16] = True  # the phone: x 40..79, y 20..59 -> x 20..39, y 10..29
    expected[45 - 6:48, 50 - 16:60 - 16] = True  # the hand: x 100..119, y 90..109 -> x 50..59, y 45..54 (cut at 48)
    assert item["clip"].shape == (3, 4, 48, 48) and evidence.shape == (4, 48, 48)
    for frame in evidence:
        assert np.array_equal(frame, expected)
    assert torch.equal(item["window"], torch.ones(4))  # SSv2 has no action window: the whole clip
    # clip 102: boxes on its first 15 frames only, so only the sampled frames among them show evidence
    indices = sample_indices(cfg.data.sampling, 30, 4, cfg.data.stride, False)
    shows = (data[1]["evidence"].reshape(4, -1) > 0.5).any(dim=1).numpy()
    assert np.array_equal(shows, indices < 15) and shows.any() and not shows.all()


def test_clips_without_boxes_are_counted_and_left_out_of_localisation(root, tmp_path):
    cfg = _config(root, tmp_path, f"data.ground_truth=something-else:{root}")  # a folder of annotation files
    data = build_dataset(cfg.data, "validation")
    item = data[2]  # clip 103 has no boxes
    assert item["evidence"].sum() == 0 and data.ground_truth_fn.missing == {"103"}
    maps = torch.rand(1, 4, 48, 48)
    assert math.isnan(pointing_game(maps, item["evidence"][None]).item())  # NaN (left out), never a miss (0)
    assert not math.isnan(pointing_game(maps, data[0]["evidence"][None]).item())
    assert set(read_annotations(root, ["101", "103"])) == {"101"}


def test_config_is_checked(root, tmp_path):
    with pytest.raises(ConfigError, match="something-else:PATH"):
        _config(root, tmp_path, "data.ground_truth=boxes.json")
    with pytest.raises(ConfigError, match="data.source=ssv2"):
        load_config("smoke", [f"data.ground_truth=something-else:{root}"])
    cfg = _config(root, tmp_path, f"data.ground_truth=something-else:{root / 'missing.json'}")
    with pytest.raises(StabnBenchError, match="do not exist"):
        build_dataset(cfg.data, "validation")
