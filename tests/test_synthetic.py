"""The synthetic data set: determinism, what each class promises, ground truth, layout and caching."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_dilation

from stabn_bench.benchmark.config import ConfigError, load_config
from stabn_bench.benchmark.config.schema import SyntheticConfig
from stabn_bench.benchmark.data import ACTIONS, load_ground_truth, read_manifest, read_video
from stabn_bench.benchmark.data.actions import DESIGN_ACTIONS, action_progress
from stabn_bench.metrics.localisation import temporal_auroc
from stabn_bench.metrics.motion import frame_motion_energy
from stabn_bench.benchmark.data.ssv2 import LABELS_FILE, SPLIT_FILE, VIDEO_DIR
from stabn_bench.benchmark.data.synthetic import (
    assign_classes,
    clip_rng,
    ensure_synthetic,
    generate_synthetic,
    parameter_key,
    render_clip,
    stratified_split,
)

TINY = SyntheticConfig(num_videos=20, num_frames=8, height=32, width=32, window_min=4, window_max=4,
                       target_size=8, num_decoys=2, seed=3)
#: the earlier design (start and end states differ), kept as an option
ENDPOINTS = dataclasses.replace(TINY, design="endpoints", window_min=3, window_max=6)
ENDPOINT_ACTIONS = DESIGN_ACTIONS["endpoints"] + ["clockwise", "counterclockwise"]
WINDOW_ACTIONS = DESIGN_ACTIONS["window"]


# ------------------------------------------------------------------------------------------- the oracle


def target_pixels(frames: np.ndarray) -> np.ndarray:
    """(T, H, W) bool: pixels of the target's warm red (decoys are blue, green, yellow, cyan, violet)."""
    rgb = frames.astype(np.float64) / 255
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return (r > 0.55) & (r - g > 0.3) & (r - b > 0.3)


def motion_oracle(frames: np.ndarray) -> str:
    """Name the action of a clip from its pixels alone: presence, area, turning and net direction of the red disc."""
    pixels = target_pixels(frames)
    counts = pixels.sum(axis=(1, 2))
    present = counts >= 3
    if present[0] != present[-1]:
        return "appearing" if present[-1] else "disappearing"
    ys, xs = np.mgrid[0:frames.shape[1], 0:frames.shape[2]]
    centres = np.stack([(pixels * xs).sum((1, 2)), (pixels * ys).sum((1, 2))], axis=1) / np.maximum(counts, 1)[:, None]
    ratio = counts[-1] / max(counts[0], 1)
    if ratio > 1.6:
        return "closer"
    if ratio < 1 / 1.6:
        return "away"
    steps = np.diff(centres, axis=0)
    steps = steps[np.linalg.norm(steps, axis=1) > 0.5]  # moving steps only (noise moves the centre a little)
    turning = sum(np.arctan2(a[0] * b[1] - a[1] * b[0], a @ b) for a, b in zip(steps[:-1], steps[1:]))
    if abs(turning) > np.pi / 2:  # y points down: a positive turn is clockwise on screen
        return "clockwise" if turning > 0 else "counterclockwise"
    dx, dy = centres[-1] - centres[0]
    if abs(dx) > abs(dy):
        return "left_to_right" if dx > 0 else "right_to_left"
    return "down" if dy > 0 else "up"


def torus_centre(mask: np.ndarray) -> np.ndarray:
    """(x, y) centre of a (H, W) mask on the torus of the frame (circular mean per axis)."""
    height, width = mask.shape
    ys, xs = np.mgrid[0:height, 0:width]
    centre = []
    for coords, size in ((xs, width), (ys, height)):
        angle = 2 * np.pi * (coords + 0.5) / size
        mean = np.angle((mask * np.exp(1j * angle)).sum()) % (2 * np.pi)
        centre.append(mean * size / (2 * np.pi) - 0.5)
    return np.array(centre)


def excursion_oracle(frames: np.ndarray, start: int, end: int) -> str:
    """Name a ``window`` clip's class from its pixels and window: the offsets of the red disc's second and last
    red position from its first (the anchor, where the loop starts)."""
    red = target_pixels(frames)
    height, width = red.shape[1:]
    assert not red[:start].any() and not red[end:].any()  # red only on the window's frames
    centres = [torus_centre(red[t]) for t in range(start, end)]
    period = np.array([width, height], dtype=np.float64)

    def direction(offset: np.ndarray) -> str:
        dx, dy = (offset + period / 2) % period - period / 2
        return ("right" if dx > 0 else "left") if abs(dx) > abs(dy) else ("down" if dy > 0 else "up")

    return f"{direction(centres[1] - centres[0])}_{direction(centres[-1] - centres[0])}"


def oracle(frames: np.ndarray, design: str, window: tuple[int, int]) -> str:
    return excursion_oracle(frames, *window) if design == "window" else motion_oracle(frames)


# ------------------------------------------------------------------------------------------- class promises


@pytest.mark.parametrize("key", WINDOW_ACTIONS)
def test_window_design_oracle_names_the_class_and_its_reverse_names_the_pair(key):
    action = ACTIONS[key]
    for index in range(6):
        clip = render_clip(action, TINY, clip_rng(11, index))
        start, end = clip.truth.start, clip.truth.end
        assert excursion_oracle(clip.frames, start, end) == key
        T = TINY.num_frames
        assert excursion_oracle(clip.frames[::-1], T - end, T - start) == action.pair


def test_window_design_frames_outside_the_window_do_not_depend_on_the_class():
    """A class and its time-reversed pair (and every other class) drawn from one random stream differ only
    inside the window: the frames outside it, the first and the last frame included, are byte-identical."""
    for index in range(5):
        clips = [render_clip(ACTIONS[key], TINY, clip_rng(13, index)) for key in WINDOW_ACTIONS]
        outside = ~clips[0].truth.window_mask()
        assert outside.any()
        for clip in clips[1:]:
            assert np.array_equal(clip.frames[outside], clips[0].frames[outside])
            assert not np.array_equal(clip.frames[~outside], clips[0].frames[~outside])


def test_window_design_motion_does_not_find_the_window():
    """Every object moves at one speed all the time: per-frame motion energy ranks window frames no better than
    chance (the motion control's temporal AUROC; the earlier design gave 0.94)."""
    cfg = dataclasses.replace(TINY, num_frames=8, height=48, width=48, target_size=12)
    rng_keys = DESIGN_ACTIONS["window"]
    clips = [render_clip(ACTIONS[rng_keys[i % 8]], cfg, clip_rng(17, i)) for i in range(48)]
    frames = torch.from_numpy(np.stack([c.frames for c in clips])).permute(0, 4, 1, 2, 3).float()
    windows = torch.from_numpy(np.stack([c.truth.window_mask() for c in clips])).float()
    auroc = float(temporal_auroc(frame_motion_energy(frames), windows).mean())
    assert 0.35 <= auroc <= 0.65
    old = [render_clip(ACTIONS[DESIGN_ACTIONS["endpoints"][i % 8]], dataclasses.replace(cfg, design="endpoints"),
                       clip_rng(17, i)) for i in range(48)]
    frames = torch.from_numpy(np.stack([c.frames for c in old])).permute(0, 4, 1, 2, 3).float()
    windows = torch.from_numpy(np.stack([c.truth.window_mask() for c in old])).float()
    assert float(temporal_auroc(frame_motion_energy(frames), windows).mean()) > 0.75  # the flaw this design fixes


def test_window_design_evidence_is_the_target_on_every_frame():
    """The evidence is the target on every frame; it is red exactly on the window's frames (a decoy's colour
    elsewhere), and nothing else is red."""
    for index in range(4):
        clip = render_clip(ACTIONS["left_down"], dataclasses.replace(TINY, noise=0.01), clip_rng(7, index))
        evidence = clip.truth.evidence
        red = target_pixels(clip.frames)
        window = clip.truth.window_mask()
        for t in range(TINY.num_frames):
            assert evidence[t].sum() >= 20
            near = binary_dilation(np.pad(evidence[t], 1, mode="wrap"))[1:-1, 1:-1]  # the frame is a torus
            assert not (red[t] & ~near).any()
            if window[t]:
                assert (red[t] & evidence[t]).sum() >= 0.75 * evidence[t].sum()
            else:
                assert not red[t].any()


def test_window_design_red_positions_without_order_are_one_square_for_every_class():
    """The red frames mark when, not which: for one random stream every class puts its red disc on the same
    four corners of one square; only their order differs (that is the class)."""
    for index in range(3):
        corners = {}
        for key in WINDOW_ACTIONS:
            clip = render_clip(ACTIONS[key], TINY, clip_rng(19, index))
            window = clip.truth.window_mask()
            # the anchor is where the window starts; the square is the same up to where that corner lies
            states = np.array([(s.x, s.y) for s, inside in zip(clip.states, window) if inside])
            corners[key] = np.round(states - states.mean(axis=0), 6)
        shapes = {tuple(sorted(map(tuple, c))) for c in corners.values()}
        assert len(shapes) == 1
        assert len({tuple(map(tuple, c)) for c in corners.values()}) == len(WINDOW_ACTIONS)


def test_endpoints_design_keeps_its_cache_key():
    """The earlier design hashes exactly the parameters it had before the design choice existed (values taken
    from the code before it), so cached data sets and old results stay valid."""
    old_defaults = SyntheticConfig(design="endpoints", window_min=6, window_max=10)  # the schema's before v5
    assert parameter_key(old_defaults) == "a2f856baa30f"
    assert parameter_key(load_config("synthetic-endpoints").data.synthetic) == "25991d419722"
    assert parameter_key(SyntheticConfig()) != parameter_key(SyntheticConfig(design="endpoints"))


@pytest.mark.parametrize("key", ENDPOINT_ACTIONS)
def test_oracle_names_the_class_and_its_reverse_names_the_pair(key):
    cfg = dataclasses.replace(ENDPOINTS, window_min=4, window_max=8, actions=ENDPOINT_ACTIONS)
    action = ACTIONS[key]
    for index in range(6):
        clip = render_clip(action, cfg, clip_rng(11, index))
        assert motion_oracle(clip.frames) == key
        assert motion_oracle(clip.frames[::-1]) == action.pair


def test_pairs_are_mutual_and_reversal_maps_the_window():
    for design, keys in DESIGN_ACTIONS.items():
        assert all(ACTIONS[k].design == design and ACTIONS[ACTIONS[k].pair].design == design for k in keys)
    for key, action in ACTIONS.items():
        assert ACTIONS[action.pair].pair == key and action.pair != key
        if action.design == "endpoints":  # one drawn path, run forwards by one member and backwards by the other
            assert ACTIONS[action.pair].backwards != action.backwards
    for T, s, e in [(8, 0, 3), (8, 2, 7), (16, 5, 16), (16, 0, 16)]:
        forward = action_progress(T, s, e)
        np.testing.assert_allclose(forward[::-1], 1 - action_progress(T, T - e, T - s))


@pytest.mark.parametrize("key", ENDPOINT_ACTIONS)
def test_target_is_still_outside_the_window_and_changes_on_every_window_frame(key):
    cfg = dataclasses.replace(ENDPOINTS, actions=ENDPOINT_ACTIONS)
    for index in range(4):
        clip = render_clip(ACTIONS[key], cfg, clip_rng(5, index))
        start, end = clip.truth.start, clip.truth.end
        assert cfg.window_min <= end - start <= cfg.window_max and 0 <= start and end <= cfg.num_frames
        states = [dataclasses.astuple(s) for s in clip.states]
        assert all(states[t] == states[0] for t in range(start))
        assert all(states[t] == states[-1] for t in range(end, cfg.num_frames))
        for t in range(max(start, 1), end):
            assert states[t] != states[t - 1]


@pytest.mark.parametrize("key", ENDPOINT_ACTIONS)
def test_evidence_mask_covers_the_target_on_every_frame_it_is_visible_in(key):
    cfg = dataclasses.replace(ENDPOINTS, actions=ENDPOINT_ACTIONS, noise=0.01)
    for index in range(4):
        clip = render_clip(ACTIONS[key], cfg, clip_rng(7, index))
        evidence = clip.truth.evidence
        visible = np.array([state.alpha > 0 for state in clip.states])
        assert evidence.shape == (cfg.num_frames, cfg.height, cfg.width) and evidence.dtype == bool
        assert not evidence[~visible].any()
        assert all(evidence[t].sum() >= 4 for t in np.flatnonzero(visible))
        red = target_pixels(clip.frames)
        for t in np.flatnonzero(visible):
            # every clearly red pixel is the target's: inside the mask or on its anti-aliased rim
            assert not (red[t] & ~binary_dilation(evidence[t])).any()
            if clip.states[t].alpha == 1.0:
                assert (red[t] & evidence[t]).sum() >= 0.75 * evidence[t].sum()  # edge pixels are half blended


def test_classes_are_balanced_and_splits_stratified():
    cfg = dataclasses.replace(TINY, num_videos=203)
    labels = assign_classes(cfg)
    counts = np.bincount(labels)
    assert len(counts) == len(cfg.action_keys()) and counts.max() - counts.min() <= 1
    split = stratified_split(labels, [0.7, 0.1, 0.2], seed=0)
    for label in range(len(counts)):
        members = split[labels == label]
        expected = np.array([0.7, 0.1, 0.2]) * len(members)
        assert np.all(np.abs(np.bincount(members, minlength=3) - expected) <= 1)
    assert np.array_equal(np.bincount(split, minlength=3), [142, 20, 41])  # whole set: largest remainders


def test_small_sets_still_fill_every_split():
    labels = assign_classes(TINY)  # 20 clips over 8 classes: 2-3 per class
    split = stratified_split(labels, [0.7, 0.1, 0.2], seed=0)
    assert np.array_equal(np.bincount(split, minlength=3), [14, 2, 4])


# ------------------------------------------------------------------------------------------- files


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    return generate_synthetic(tmp_path_factory.mktemp("synth") / "tiny", TINY, progress=False)


def test_layout_is_ssv2(tiny_dataset):
    root = tiny_dataset
    videos = sorted((root / VIDEO_DIR).iterdir())
    assert len(videos) == TINY.num_videos and all(v.suffix == ".mp4" for v in videos)
    labels = json.loads((root / LABELS_FILE).read_text())
    assert labels["Moving something right, up and back"] == "0"
    assert sorted(int(v) for v in labels.values()) == list(range(len(TINY.action_keys())))
    ids = []
    for split in ("train", "validation", "test"):
        items = json.loads((root / SPLIT_FILE.format(split=split)).read_text())
        assert items, split
        for item in items:
            assert set(item) == {"id", "label", "template", "placeholders"}
            assert item["template"].replace("[", "").replace("]", "") in labels
            ids.append(item["id"])
    assert sorted(ids) == sorted(v.stem for v in videos)


def test_ground_truth_matches_manifest_and_video(tiny_dataset):
    manifest = read_manifest(tiny_dataset)
    for clip_id, record in list(manifest["clips"].items())[:6]:
        truth = load_ground_truth(tiny_dataset, clip_id)
        assert [truth.start, truth.end] == record["window"]
        frames = read_video(tiny_dataset / VIDEO_DIR / f"{clip_id}.mp4")
        assert frames.shape == (TINY.num_frames, TINY.height, TINY.width, 3)
        assert truth.evidence.shape == frames.shape[:3]
        # decoded video still shows the class (colours survive the codec)
        start, end = record["window"]
        assert excursion_oracle(frames, start, end) == record["action"]
        T = TINY.num_frames
        assert excursion_oracle(frames[::-1], T - end, T - start) == ACTIONS[record["action"]].pair


def test_same_seed_gives_byte_identical_files_videos_included(tiny_dataset, tmp_path):
    again = generate_synthetic(tmp_path / "again", TINY, progress=False)
    files = [p.relative_to(tiny_dataset) for p in tiny_dataset.rglob("*") if p.is_file()]
    assert len(files) == 2 * TINY.num_videos + 5  # videos, masks, labels, 3 splits, manifest
    for rel in files:
        assert (tiny_dataset / rel).read_bytes() == (again / rel).read_bytes(), rel
    # WebM too (the Matroska muxer writes a date and random UIDs unless told to be bit-exact)
    webm = dataclasses.replace(TINY, num_videos=3, container="webm")
    first, second = (generate_synthetic(tmp_path / name, webm, progress=False) for name in ("webm1", "webm2"))
    videos = sorted(p.relative_to(first) for p in first.rglob("*.webm"))
    assert len(videos) == 3
    for rel in videos:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
    other = generate_synthetic(tmp_path / "other", dataclasses.replace(TINY, seed=4), progress=False)
    first = sorted((tiny_dataset / "ground_truth").iterdir())[0].name
    assert (other / "ground_truth" / first).read_bytes() != (tiny_dataset / "ground_truth" / first).read_bytes()


def test_webm_container_is_vp9_and_decodes(tmp_path):
    import av

    cfg = dataclasses.replace(TINY, num_videos=8, container="webm")
    root = generate_synthetic(tmp_path / "webm", cfg, progress=False)
    videos = sorted((root / VIDEO_DIR).glob("*.webm"))
    assert len(videos) == 8
    with av.open(str(videos[0])) as container:
        assert container.streams.video[0].codec_context.name in ("vp9", "libvpx-vp9")
    manifest = read_manifest(root)
    for video in videos[:3]:
        record = manifest["clips"][video.stem]
        assert excursion_oracle(read_video(video), *record["window"]) == record["action"]


def test_ensure_synthetic_caches_by_parameters(tmp_path):
    cfg = dataclasses.replace(TINY, num_videos=8)
    first = ensure_synthetic(tmp_path, cfg, progress=False)
    assert first == tmp_path / parameter_key(cfg)
    stamp = (first / "synthetic.json").stat().st_mtime_ns
    assert ensure_synthetic(tmp_path, cfg, progress=False) == first
    assert (first / "synthetic.json").stat().st_mtime_ns == stamp
    second = ensure_synthetic(tmp_path, dataclasses.replace(cfg, seed=9), progress=False)
    assert second != first
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, second.name])  # no temporary leftovers


def test_generate_refuses_to_overwrite(tiny_dataset):
    from stabn_bench.benchmark.errors import DataError

    with pytest.raises(DataError, match="already exists"):
        generate_synthetic(tiny_dataset, TINY, progress=False)


def test_config_checks_pairs_and_sizes():
    with pytest.raises(ConfigError, match="time-reversed pairs"):
        load_config("smoke", ["data.synthetic.design=endpoints", "data.synthetic.actions=[up, down, closer]"])
    with pytest.raises(ConfigError, match="time-reversed pairs"):
        load_config("smoke", ["data.synthetic.actions=[right_up, up_right, left_up]"])
    with pytest.raises(ConfigError, match="unknown action"):
        load_config("smoke", ["data.synthetic.actions=[up, dwon]"])
    with pytest.raises(ConfigError, match="another design"):
        load_config("smoke", ["data.synthetic.actions=[up, down]"])
    with pytest.raises(ConfigError, match="camera_motion"):
        load_config("smoke", ["data.synthetic.camera_motion=-1"])
    with pytest.raises(ConfigError, match="target_size"):
        load_config("smoke", ["data.synthetic.target_size=40"])


@pytest.mark.slow
def test_generation_is_byte_identical_across_processes_and_threads(tiny_dataset, tmp_path):
    """Videos included: two other processes and a thread generate the same data set at once, to the byte."""
    import subprocess
    import sys
    import threading

    script = ("import sys; from stabn_bench.benchmark.data.synthetic import generate_synthetic; "
              "from stabn_bench.benchmark.config.schema import SyntheticConfig; "
              f"generate_synthetic(sys.argv[1], SyntheticConfig(**{dataclasses.asdict(TINY)!r}), progress=False)")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / f"process{i}")]) for i in range(2)]
    thread = threading.Thread(target=generate_synthetic, args=(tmp_path / "thread", TINY), kwargs={"progress": False})
    thread.start()
    generate_synthetic(tmp_path / "main", TINY, progress=False)
    thread.join()
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    files = sorted(p.relative_to(tiny_dataset) for p in tiny_dataset.rglob("*") if p.is_file())
    assert sum(f.suffix == ".mp4" for f in files) == TINY.num_videos
    for copy in ("process0", "process1", "thread", "main"):
        for rel in files:
            assert (tmp_path / copy / rel).read_bytes() == (tiny_dataset / rel).read_bytes(), (copy, rel)


def test_overwrite_replaces_only_a_synthetic_data_set(tmp_path):
    """--force never deletes a folder that is not a data set made by the generator (e.g. --out ..)."""
    from stabn_bench.benchmark.data.synthetic import generate_synthetic
    from stabn_bench.benchmark.errors import DataError

    other = tmp_path / "project"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    with pytest.raises(DataError, match="not a synthetic data set"):
        generate_synthetic(other, SyntheticConfig(num_videos=8, num_frames=4, height=16, width=16), progress=False,
                           overwrite=True)
    assert (other / "notes.txt").read_text() == "keep"
