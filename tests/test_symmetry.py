"""The synthetic data set's frame symmetries (training augmentation): the relabelled class is the class the pixels show."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from test_synthetic import ENDPOINT_ACTIONS, ENDPOINTS, TINY, WINDOW_ACTIONS, excursion_oracle, motion_oracle, target_pixels

from stabn_bench.benchmark.config import load_config
from stabn_bench.benchmark.data import ACTIONS
from stabn_bench.benchmark.data.datasets import build_dataset
from stabn_bench.benchmark.data.symmetry import SYMMETRIES, FrameSymmetry, SymmetryAugment, action_image, class_permutation
from stabn_bench.benchmark.data.synthetic import clip_rng, render_clip


def test_the_eight_symmetries_permute_each_design_s_classes():
    for keys in (WINDOW_ACTIONS, ENDPOINT_ACTIONS):
        for symmetry in SYMMETRIES:
            permutation = class_permutation(keys, symmetry)
            assert sorted(permutation) == list(range(len(keys)))
    assert class_permutation(WINDOW_ACTIONS, FrameSymmetry()) == list(range(len(WINDOW_ACTIONS)))
    assert action_image("right_up", FrameSymmetry(hflip=True)) == "left_up"
    assert action_image("right_up", FrameSymmetry(vflip=True)) == "right_down"
    assert action_image("right_up", FrameSymmetry(transpose=True)) == "down_left"
    assert action_image("clockwise", FrameSymmetry(hflip=True, vflip=True)) == "clockwise"  # a half turn
    assert action_image("clockwise", FrameSymmetry(transpose=True)) == "counterclockwise"
    # time-reversed pairs stay pairs: a mirror image of a clip played backwards is the mirror image played backwards
    for key in WINDOW_ACTIONS:
        for symmetry in SYMMETRIES:
            assert action_image(ACTIONS[key].pair, symmetry) == ACTIONS[action_image(key, symmetry)].pair


def test_a_class_set_that_is_not_closed_is_refused():
    with pytest.raises(ValueError, match="not closed.*left_up"):
        class_permutation(["right_up", "right_down"], FrameSymmetry(hflip=True))


@pytest.mark.parametrize("key", WINDOW_ACTIONS)
def test_window_design_transformed_clip_shows_the_relabelled_class(key):
    """Mirror, transpose and cyclic shift of rendered clips: the pixel oracle names the relabelled class, and the
    evidence mask still covers the red target."""
    augment = SymmetryAugment(WINDOW_ACTIONS, square=True, torus=True)
    torch.manual_seed(0)
    seen = set()
    for index in range(16):
        clip = render_clip(ACTIONS[key], TINY, clip_rng(5, index))
        frames, evidence, label = augment(clip.frames, clip.truth.evidence, WINDOW_ACTIONS.index(key))
        assert excursion_oracle(np.ascontiguousarray(frames), clip.truth.start, clip.truth.end) == WINDOW_ACTIONS[label]
        red = target_pixels(np.ascontiguousarray(frames))
        assert red.sum() > 0 and (red & evidence.astype(bool)).sum() >= 0.9 * red.sum()
        seen.add(label)
    assert len(seen) >= 4  # the draws do relabel


@pytest.mark.parametrize("key", ["left_to_right", "down", "clockwise", "closer"])
def test_endpoints_design_transformed_clip_shows_the_relabelled_class(key):
    for symmetry in SYMMETRIES:
        clip = render_clip(ACTIONS[key], ENDPOINTS, clip_rng(7, 1))
        assert motion_oracle(np.ascontiguousarray(symmetry.apply(clip.frames))) == action_image(key, symmetry)


def test_non_square_frames_use_flips_only():
    augment = SymmetryAugment(WINDOW_ACTIONS, square=False, torus=False)
    assert len(augment.symmetries) == 4 and not any(s.transpose for s in augment.symmetries)
    frames = np.zeros((2, 6, 10, 3), dtype=np.uint8)
    for _ in range(8):
        assert augment(frames, None, 0)[0].shape == frames.shape


def test_training_split_is_augmented_and_evaluation_splits_are_not(tmp_path):
    cfg = load_config("smoke", [f"data.root={tmp_path}", "data.symmetry_augment=true"])
    train = build_dataset(cfg.data, "train", train=True, progress=False)
    test = build_dataset(cfg.data, "test", train=False, progress=False)
    assert train.augment is not None and test.augment is None
    torch.manual_seed(1)
    relabelled = sum(train[i]["label"] != train.records[i].label for i in range(len(train)))
    assert relabelled > len(train) // 4  # 7 of the 8 symmetries of the window design's classes move every class
    assert all(test[i]["label"] == test.records[i].label for i in range(len(test)))
    plain = build_dataset(dataclasses.replace(cfg.data, symmetry_augment=False), "train", train=True, progress=False)
    assert plain.augment is None


def test_other_sources_ignore_symmetry_augment(tmp_path):
    """Only the generator knows how a mirrored clip's class changes: a CSV data set trains unaugmented."""
    from stabn_bench.benchmark.data.video_io import write_video

    for i, grey in enumerate([40, 90]):
        write_video(tmp_path / f"clip{i}.mp4", np.full((8, 32, 32, 3), grey, dtype=np.uint8), fps=8)
    (tmp_path / "train.csv").write_text("path,label\nclip0.mp4,a\nclip1.mp4,b\n")
    cfg = load_config("smoke", ["data.source=csv", f"data.root={tmp_path}", "data.symmetry_augment=true"])
    dataset = build_dataset(cfg.data, "train", train=True, progress=False)
    assert dataset.augment is None and [dataset[i]["label"] for i in range(2)] == [0, 1]
