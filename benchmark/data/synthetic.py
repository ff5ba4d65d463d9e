"""The embedded synthetic Something-Something-like data set with ground truth (docs/design.md section 3).

A clip shows a textured, low-contrast background, a few decoy discs of other colours and one target disc (warm
red) that performs its class's action (benchmark/data/actions.py) inside a random action window. In the default
``window`` design every object wanders at one speed for the whole clip (on the torus of the frame); the target
wears a decoy's colour outside the window, turns red on the window's frames and leaves its track there for a
closed loop, so the frames outside the window, the first and last frame, the amount of motion per frame and the
red positions without their order say nothing about the class: the window is the evidence, necessary and
sufficient (:mod:`~stabn_bench.benchmark.data.necessity` measures it). The red frames mark *when* the action
happens (a model learns the loop within the default training budget; without that mark, models at 112 px stayed
near chance), but not *which* one. In the ``endpoints`` design (the earlier
default) decoys wander and the target is still outside its window. Windows are placed so that every frame is
equally likely to lie inside one (:func:`~stabn_bench.benchmark.data.actions.window_placement`). The data set is written as real video files
in the SSv2 layout (benchmark/data/ssv2.py) with per-clip ground truth (benchmark/data/ground_truth.py), so the
benchmark decodes it exactly like real data.

Every clip is drawn from its own random stream ``(seed, clip index)``: the same parameters give the same clips,
annotation and ground-truth files byte for byte.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..config.loader import to_dict
from ..config.schema import SyntheticConfig
from ..errors import DataError
from . import ssv2
from .actions import Action, TargetState, action_progress, resolve_actions, window_placement
from .ground_truth import GROUND_TRUTH_DIR, GroundTruth, ground_truth_path, save_ground_truth
from .video_io import write_video

#: Bumped whenever the drawing changes, so cached data sets made by older code are not reused. Per design: the
#: ``endpoints`` design keeps version 3 and its cache key, so old results reproduce.
GENERATOR_VERSIONS = {"window": 5, "endpoints": 3}
GENERATOR_VERSION = GENERATOR_VERSIONS["window"]
MANIFEST_FILE = "synthetic.json"
SPLITS = ("train", "validation", "test")

TARGET_COLOUR = np.array([0.95, 0.22, 0.18])
TARGET_NAME = "red disc"
#: decoy colours: hues well away from the target's
DECOY_COLOURS = np.array([
    [0.20, 0.45, 0.95],  # blue
    [0.25, 0.80, 0.30],  # green
    [0.95, 0.85, 0.20],  # yellow
    [0.20, 0.85, 0.90],  # cyan
    [0.65, 0.35, 0.95],  # violet
])


@dataclass
class SyntheticClip:
    """One generated clip: ``frames`` (T, H, W, 3) uint8, its ground truth and the target state per frame."""

    frames: np.ndarray
    truth: GroundTruth
    states: list[TargetState]


def _pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    return xs + 0.5, ys + 0.5


def disc_coverage(xs: np.ndarray, ys: np.ndarray, x: float, y: float, size: float) -> np.ndarray:
    """(H, W) fraction of each pixel covered by a disc of diameter ``size`` centred at (x, y) (anti-aliased)."""
    distance = np.hypot(xs - x, ys - y)
    return np.clip(size / 2 - distance + 0.5, 0.0, 1.0)


def textured_background(rng: np.random.Generator, height: int, width: int, contrast: float) -> np.ndarray:
    """(H, W, 3) static background in [0, 1]: a grey-ish base with a smooth noise pattern and a faint grating."""
    xs, ys = _pixel_grid(height, width)
    coarse = rng.standard_normal((height // 8 + 2, width // 8 + 2))
    # bilinear upsampling of the coarse noise
    gy = ys / 8.0
    gx = xs / 8.0
    y0, x0 = np.floor(gy).astype(int), np.floor(gx).astype(int)
    fy, fx = gy - y0, gx - x0
    smooth = (coarse[y0, x0] * (1 - fy) * (1 - fx) + coarse[y0 + 1, x0] * fy * (1 - fx)
              + coarse[y0, x0 + 1] * (1 - fy) * fx + coarse[y0 + 1, x0 + 1] * fy * fx)
    angle, period = rng.uniform(0, np.pi), rng.uniform(5, 12)
    grating = np.sin(2 * np.pi * (xs * np.cos(angle) + ys * np.sin(angle)) / period + rng.uniform(0, 2 * np.pi))
    pattern = 0.7 * smooth / (np.abs(smooth).max() + 1e-8) + 0.3 * grating
    base = rng.uniform(0.35, 0.5) + rng.uniform(-0.03, 0.03, size=3)
    tint = 1.0 + rng.uniform(-0.15, 0.15, size=3)
    return np.clip(base + (contrast / 2) * pattern[..., None] * tint, 0.0, 1.0)


def _decoy_tracks(rng: np.random.Generator, cfg: SyntheticConfig, sizes: np.ndarray) -> np.ndarray:
    """(num_decoys, T, 2) positions of decoys wandering for the whole clip (smooth random walk, bouncing)."""
    steps = cfg.num_frames
    tracks = np.zeros((cfg.num_decoys, steps, 2))
    limits = np.array([cfg.width, cfg.height], dtype=np.float64)
    for d in range(cfg.num_decoys):
        margin = sizes[d] / 2 + 1
        position = rng.uniform(margin, limits - margin)
        heading = rng.uniform(0, 2 * np.pi)
        speed = rng.uniform(0.06, 0.12) * min(cfg.height, cfg.width) * 8 / max(cfg.num_frames, 8)
        for t in range(steps):
            tracks[d, t] = position
            heading += rng.normal(0, 0.6)
            velocity = speed * np.array([np.cos(heading), np.sin(heading)])
            position = position + velocity
            for axis in range(2):  # bounce off the borders
                if not margin <= position[axis] <= limits[axis] - margin:
                    position[axis] = np.clip(position[axis], margin, limits[axis] - margin)
                    heading = np.pi - heading if axis == 0 else -heading
    return tracks


def render_clip(action: Action, cfg: SyntheticConfig, rng: np.random.Generator) -> SyntheticClip:
    """Draw one clip of ``action`` with the sizes, noise, window lengths and decoys of ``cfg`` (its design)."""
    if cfg.design == "window":
        return _render_window_clip(action, cfg, rng)
    return _render_endpoints_clip(action, cfg, rng)


def _wander(rng: np.random.Generator, steps: int, speed: float, height: int, width: int) -> np.ndarray:
    """(steps, 2) positions of a smooth random walk at constant ``speed`` on the torus of the frame (it leaves one
    border and comes back at the opposite one), starting anywhere: every position is equally likely at every step."""
    period = np.array([width, height], dtype=np.float64)
    position = rng.uniform(0, period)
    heading = rng.uniform(0, 2 * np.pi)
    track = np.zeros((steps, 2))
    for t in range(steps):
        track[t] = position
        heading += rng.normal(0, 0.3)
        position = np.mod(position + speed * np.array([np.cos(heading), np.sin(heading)]), period)
    return track


def torus_disc_coverage(xs: np.ndarray, ys: np.ndarray, x: float, y: float, size: float) -> np.ndarray:
    """(H, W) coverage of a disc centred at (x, y) on the torus of the frame (wrapped across the borders)."""
    height, width = xs.shape
    dx = np.mod(xs - x + width / 2, width) - width / 2
    dy = np.mod(ys - y + height / 2, height) - height / 2
    return np.clip(size / 2 - np.hypot(dx, dy) + 0.5, 0.0, 1.0)


def _anchor_times(num_frames: int, start: int, end: int) -> np.ndarray:
    """(T,) index into a walk of ``T - L + 1`` points per frame: the walk pauses at its point ``start`` (the
    anchor) from frame ``start`` to frame ``end`` while the excursion runs, so every step between frames is one
    step of the walk or of the excursion, never both."""
    t = np.arange(num_frames)
    return np.where(t < start, t, np.where(t <= end, start, t - (end - start)))


def excursion_progress(num_frames: int, start: int, end: int) -> np.ndarray:
    """(T,) progress per frame of an excursion: 0 up to frame ``start`` (the window's first frame shows the
    target at the anchor), ``(t - start) / L`` inside the window, 1 from frame ``end`` on (back at the anchor)."""
    t = np.arange(num_frames, dtype=np.float64)
    return np.clip((t - start) / (end - start), 0.0, 1.0)


def _excursion_offsets(offset_for, side: float, progress: np.ndarray) -> np.ndarray:
    """(T, 2) offset from the anchor per frame: the excursion at each frame's progress, zero outside the window."""
    path = offset_for(side)
    return np.array([[path(float(p)).x, path(float(p)).y] for p in progress])


def mean_chord(length: int) -> float:
    """Step (chord) between consecutive frames of a loop excursion of side 1 over a window of ``length`` frames:
    the L steps from the anchor and back are equal chords of the loop's circle (radius 1 / sqrt 2); 1 for L = 4."""
    return float(np.sqrt(2.0) * np.sin(np.pi / length))


def _mover(rng: np.random.Generator, cfg: SyntheticConfig, offset_for, side: float, start: int, end: int) -> np.ndarray:
    """(T, 2) centre per frame of an object whose excursion of side ``side`` fills the window ``[start, end)``
    and that wanders at the excursion's mean step outside it (so that it moves as much in as out)."""
    T, H, W = cfg.num_frames, cfg.height, cfg.width
    length = end - start
    walk = _wander(rng, T - length + 1, side * mean_chord(length), H, W)
    anchors = walk[_anchor_times(T, start, end)]
    offsets = _excursion_offsets(offset_for, side, excursion_progress(T, start, end))
    return np.mod(anchors + offsets, np.array([W, H], dtype=np.float64))


def _render_window_clip(action: Action, cfg: SyntheticConfig, rng: np.random.Generator) -> SyntheticClip:
    """A ``window`` design clip. Everything is drawn from ``rng`` before the class is used, and the class only
    shapes the target's offset inside its window: any two classes give byte-identical frames outside the window
    for the same ``rng``. The target wears a decoy colour outside the window and turns red on the window's frames,
    which show the anchor and then the loop's other corners."""

    T, H, W = cfg.num_frames, cfg.height, cfg.width
    xs, ys = _pixel_grid(H, W)
    placement = window_placement(T, cfg.window_min, cfg.window_max)
    start, end = placement.sample(rng)
    size = cfg.target_size * float(rng.uniform(0.85, 1.15))
    side = float(rng.uniform(*cfg.loop_side)) * min(H, W)
    speed = side * mean_chord(end - start)
    colour = np.clip(TARGET_COLOUR + rng.uniform(-0.05, 0.05, size=3), 0, 1)
    track = _mover(rng, cfg, lambda s: action.sample_path(rng, H, W, s).at, side, start, end)

    background = textured_background(rng, H + 2 * _camera_margin(cfg), W + 2 * _camera_margin(cfg),
                                     cfg.background_contrast)
    camera = _camera_track(rng, cfg)
    decoy_sizes = cfg.target_size * rng.uniform(0.7, 1.1, size=cfg.num_decoys)
    palette = rng.permutation(len(DECOY_COLOURS))
    decoy_colours = DECOY_COLOURS[np.resize(palette, cfg.num_decoys)]
    # decoys wander at the target's speed for the whole clip: motion before, during and after the window
    decoys = [_wander(rng, T, speed, H, W) for _ in range(cfg.num_decoys)]
    # outside the window the target wears the palette's next decoy colour: it looks like a decoy there
    target_colours = np.repeat(DECOY_COLOURS[palette[cfg.num_decoys % len(palette)]][None], T, axis=0)
    target_colours[start:end] = colour

    frames = np.empty((T, H, W, 3), dtype=np.uint8)
    evidence = np.zeros((T, H, W), dtype=bool)
    states = [TargetState(float(x), float(y), size, 1.0) for x, y in track]
    noise = rng.normal(0, cfg.noise, size=(T, H, W, 3)) if cfg.noise > 0 else None
    margin = _camera_margin(cfg)
    for t in range(T):
        oy, ox = margin + int(round(camera[t, 1])), margin + int(round(camera[t, 0]))
        image = background[oy:oy + H, ox:ox + W].copy()
        for d, decoy in enumerate(decoys):
            cover = torus_disc_coverage(xs, ys, *decoy[t], decoy_sizes[d])[..., None]
            image = image * (1 - cover) + decoy_colours[d] * cover
        cover = torus_disc_coverage(xs, ys, states[t].x, states[t].y, size)
        image = image * (1 - cover[..., None]) + target_colours[t] * cover[..., None]
        if noise is not None:
            image = image + noise[t]
        frames[t] = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
        evidence[t] = cover >= 0.5
    return SyntheticClip(frames, GroundTruth(evidence, start, end), states)


def _camera_margin(cfg: SyntheticConfig) -> int:
    """Pixels of background beyond each border that camera motion may reveal."""
    return int(np.ceil(cfg.camera_motion * cfg.num_frames)) if cfg.camera_motion > 0 else 0


def _camera_track(rng: np.random.Generator, cfg: SyntheticConfig) -> np.ndarray:
    """(T, 2) background offset per frame: a random walk of ``camera_motion`` pixels per frame (zeros without)."""
    if cfg.camera_motion <= 0:
        return np.zeros((cfg.num_frames, 2))
    heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.5, size=cfg.num_frames))
    steps = cfg.camera_motion * np.stack([np.cos(heading), np.sin(heading)], axis=1)
    # starts at 0 and moves at most camera_motion * T: the crop stays inside the background's margin
    return np.concatenate([np.zeros((1, 2)), np.cumsum(steps[:-1], axis=0)])


def _render_endpoints_clip(action: Action, cfg: SyntheticConfig, rng: np.random.Generator) -> SyntheticClip:
    """An ``endpoints`` design clip (the earlier default; drawing unchanged, so old data sets reproduce)."""
    T, H, W = cfg.num_frames, cfg.height, cfg.width
    xs, ys = _pixel_grid(H, W)
    # every frame equally likely to be in the window (see actions.window_placement)
    start, end = window_placement(T, cfg.window_min, cfg.window_max).sample(rng)
    size = cfg.target_size * float(rng.uniform(0.85, 1.15))
    path = action.sample_path(rng, H, W, size)
    progress = action_progress(T, start, end)
    states = [path.at(float(p)) for p in progress]
    colour = np.clip(TARGET_COLOUR + rng.uniform(-0.05, 0.05, size=3), 0, 1)

    background = textured_background(rng, H, W, cfg.background_contrast)
    decoy_sizes = cfg.target_size * rng.uniform(0.7, 1.1, size=cfg.num_decoys)
    decoy_colours = DECOY_COLOURS[np.resize(rng.permutation(len(DECOY_COLOURS)), cfg.num_decoys)]
    tracks = _decoy_tracks(rng, cfg, decoy_sizes)

    frames = np.empty((T, H, W, 3), dtype=np.uint8)
    evidence = np.zeros((T, H, W), dtype=bool)
    for t, state in enumerate(states):
        image = background.copy()
        for d in range(cfg.num_decoys):
            cover = disc_coverage(xs, ys, *tracks[d, t], decoy_sizes[d])[..., None]
            image = image * (1 - cover) + decoy_colours[d] * cover
        cover = disc_coverage(xs, ys, state.x, state.y, state.size) * state.alpha
        image = image * (1 - cover[..., None]) + colour * cover[..., None]
        if cfg.noise > 0:
            image = image + rng.normal(0, cfg.noise, size=image.shape)
        frames[t] = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
        if state.alpha > 0:  # the target's pixels on every frame it is visible in, inside the window or not
            evidence[t] = disc_coverage(xs, ys, state.x, state.y, state.size) >= 0.5
    return SyntheticClip(frames, GroundTruth(evidence, start, end), states)


def window_prior(cfg: SyntheticConfig, num_frames: int, sampling: str = "uniform", stride: int = 1) -> np.ndarray:
    """(num_frames,) probability that each evaluated frame of a clip lies in the action window (the placement
    prior of temporal metrics): the placement's frame coverage at the frames evaluation samples, rounded to 3
    decimals (so that the optimiser's round-off in a flat coverage does not rank frames)."""
    from .sampling import sample_indices  # the data package's sampling, as the evaluation reads clips

    coverage = window_placement(cfg.num_frames, cfg.window_min, cfg.window_max).coverage()
    return np.round(coverage[sample_indices(sampling, cfg.num_frames, num_frames, stride, train=False)], 3)


def clip_rng(seed: int, index: int) -> np.random.Generator:
    """The random stream of clip ``index``: independent of every other clip."""
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def assign_classes(cfg: SyntheticConfig) -> np.ndarray:
    """(N,) class index per clip: balanced (counts differ by at most one), in shuffled order."""
    num_classes = len(cfg.action_keys())
    labels = np.arange(cfg.num_videos) % num_classes
    return np.random.default_rng(np.random.SeedSequence([cfg.seed, 2**31])).permutation(labels)


def _largest_remainder(exact: np.ndarray) -> np.ndarray:
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: int(round(exact.sum())) - counts.sum()]:
        counts[i] += 1
    return counts


def stratified_split(labels: np.ndarray, fractions: list[float], seed: int) -> np.ndarray:
    """(N,) split index (0 train, 1 validation, 2 test) per clip, the fractions held within every class.

    Each class gets ``floor(fraction * size)`` clips per split; the clips left over go where the whole data
    set is furthest below its own share, so that small data sets still fill every split with a non-zero
    fraction.
    """
    fractions_arr = np.asarray(fractions, dtype=np.float64)
    classes = np.unique(labels)
    sizes = np.array([(labels == c).sum() for c in classes])
    exact = sizes[:, None] * fractions_arr[None, :]
    counts = np.floor(exact).astype(int)
    deficit = _largest_remainder(fractions_arr * len(labels)) - counts.sum(axis=0)
    remainder = exact - counts
    for c, j in sorted(np.ndindex(*counts.shape), key=lambda cj: (-remainder[cj], cj)):
        if counts[c].sum() < sizes[c] and deficit[j] > 0:
            counts[c, j] += 1
            deficit[j] -= 1
    for c in range(len(classes)):  # anything left (only when remainders ran out): the neediest split
        while counts[c].sum() < sizes[c]:
            j = int(np.argmax(deficit))
            counts[c, j] += 1
            deficit[j] -= 1
    split = np.zeros(len(labels), dtype=np.int64)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2**31 + 1]))
    for c, label in enumerate(classes):
        members = rng.permutation(np.flatnonzero(labels == label))
        split[members] = np.repeat(np.arange(len(fractions_arr)), counts[c])
    return split


def parameter_key(cfg: SyntheticConfig) -> str:
    """Short hash of the generator parameters and version: the cache folder name of this data set.

    An ``endpoints`` data set hashes exactly the parameters it had before the design choice existed (no
    ``design`` or ``camera_motion`` key, its classes spelled out), so its cache key and old results are kept.
    """
    parameters = {**to_dict(cfg), "actions": cfg.action_keys()}
    if cfg.design == "endpoints":
        parameters.pop("design")
        parameters.pop("camera_motion")
        parameters.pop("loop_side")
    text = json.dumps({"version": GENERATOR_VERSIONS[cfg.design], **parameters}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _write_dataset(out: Path, cfg: SyntheticConfig, progress: bool) -> None:
    actions = resolve_actions(cfg.action_keys(), cfg.design)
    labels = assign_classes(cfg)
    split_of = stratified_split(labels, list(cfg.split), cfg.seed)
    width = len(str(cfg.num_videos))
    (out / ssv2.VIDEO_DIR).mkdir(parents=True)
    (out / GROUND_TRUTH_DIR).mkdir()
    items: dict[str, list[dict]] = {name: [] for name in SPLITS}
    clips: dict[str, dict] = {}
    for index in tqdm(range(cfg.num_videos), desc="synthetic clips", unit="clip", disable=not progress):
        action = actions[labels[index]]
        clip_id = str(index + 1).zfill(width)
        clip = render_clip(action, cfg, clip_rng(cfg.seed, index))
        write_video(out / ssv2.VIDEO_DIR / f"{clip_id}.{cfg.container}", clip.frames, cfg.fps, cfg.container)
        save_ground_truth(ground_truth_path(out, clip_id), clip.truth)
        split = SPLITS[split_of[index]]
        items[split].append({
            "id": clip_id,
            "label": template_to_sentence(action.template, TARGET_NAME),
            "template": action.template,
            "placeholders": [TARGET_NAME],
        })
        clips[clip_id] = {"action": action.key, "split": split, "window": [clip.truth.start, clip.truth.end]}
    ssv2.write_annotations(out, [a.template for a in actions], items)
    manifest = {
        "generator_version": GENERATOR_VERSIONS[cfg.design],
        "parameters": to_dict(cfg),
        "classes": [{"key": a.key, "template": a.template, "pair": a.pair} for a in actions],
        "clips": clips,
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1) + "\n")


def template_to_sentence(template: str, placeholder: str) -> str:
    """``"Moving [something] up"`` -> ``"moving red disc up"`` (the SSv2 ``label`` field)."""
    sentence = template.replace("[something]", placeholder).replace("[Something]", placeholder)
    return sentence[0].lower() + sentence[1:]


def generate_synthetic(out: str | os.PathLike, cfg: SyntheticConfig, progress: bool = True,
                       overwrite: bool = False) -> Path:
    """Generate the data set into ``out`` (written in a temporary folder beside it, then renamed into place).

    ``out`` must not hold files unless ``overwrite`` is set, and ``overwrite`` replaces only a synthetic data set
    (a folder with this generator's manifest): any other folder is refused, never deleted. A killed run never
    leaves a half-written data set.
    """
    out = Path(out)
    if out.exists() and not overwrite and any(out.iterdir()):
        raise DataError(f"output folder '{out}' already exists and is not empty; choose another or overwrite it")
    if overwrite and (out.is_symlink() or (out.exists() and any(out.iterdir()) and not is_complete(out))):
        raise DataError(f"output folder '{out}' is not a synthetic data set (no {MANIFEST_FILE} in it); --force "
                        "replaces only a data set made by this command: choose another folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        _write_dataset(tmp, cfg, progress)
        if overwrite and out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                os.rename(tmp, out)  # fails if another process put a data set there meanwhile
            except OSError:
                raise DataError(f"output folder '{out}' already exists and is not empty; choose another or overwrite it") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def is_complete(dataset_dir: str | os.PathLike) -> bool:
    return (Path(dataset_dir) / MANIFEST_FILE).is_file()


def ensure_synthetic(root: str | os.PathLike, cfg: SyntheticConfig, progress: bool = True) -> Path:
    """``root/<parameter hash>``, generated there first if it is not already complete (cached across runs).

    Safe when several processes (e.g. DDP ranks) call it at once: each generates privately and the first to
    finish wins; a complete data set is never replaced.
    """
    target = Path(root) / parameter_key(cfg)
    if is_complete(target):
        return target
    try:
        return generate_synthetic(target, cfg, progress=progress)
    except DataError:
        if is_complete(target):  # another process finished the same data set first
            return target
        raise


def read_manifest(dataset_dir: str | os.PathLike) -> dict:
    """The generator's record of a synthetic data set: parameters, classes, per-clip action and window."""
    path = Path(dataset_dir) / MANIFEST_FILE
    if not path.is_file():
        raise DataError(f"'{dataset_dir}' is not a synthetic data set: '{path}' does not exist")
    return json.loads(path.read_text())
