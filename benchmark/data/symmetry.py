"""Symmetries of the synthetic data set, used as training augmentation (``data.symmetry_augment``).

A mirror or transpose of the frame turns a clip of one class into a clip of a known class: mirrored left to right,
"right, up and back" is "left, up and back"; transposed (x <-> y), it is "down, left and back". With the class
relabelled, these eight frame symmetries (the dihedral group of the square) multiply a small training set by
eight without making up a single label. In the ``window`` design every object moves on the torus of the frame
(it leaves one border and comes back at the opposite one), so a random cyclic shift of the frame is one more
symmetry that keeps the class. Measured in-memory (ResNet-18 at 1/8 width, 720 clips at 112 px, a 20-epoch
schedule): the plain backbone reached 0.96-0.98 validation top-1 at epochs 17-20 with both, and stayed at chance
without them (0.13 after 14 epochs, training top-1 0.28).

Everything here acts on uint8 frames ``(T, H, W, 3)`` and masks ``(T, H, W)`` before normalisation.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from .actions import ACTIONS, DIRECTIONS

_NAMES = {vector: name for name, vector in DIRECTIONS.items()}
#: the ``endpoints`` design's translations by direction word
_TRANSLATIONS = {"right": "left_to_right", "left": "right_to_left", "down": "down", "up": "up"}
_TRANSLATION_DIRECTION = {key: word for word, key in _TRANSLATIONS.items()}
#: actions that look the same in every mirror image
_INVARIANT = {"closer", "away", "appearing", "disappearing"}
_SENSE_PAIRS = {"clockwise": "counterclockwise", "counterclockwise": "clockwise"}


@dataclass(frozen=True)
class FrameSymmetry:
    """Transpose the frame (x <-> y) if ``transpose``, then mirror left-right if ``hflip`` and top-bottom if ``vflip``."""

    hflip: bool = False
    vflip: bool = False
    transpose: bool = False

    @property
    def is_reflection(self) -> bool:
        """Whether the map reverses the sense of rotation (an odd number of mirrors)."""
        return (self.hflip + self.vflip + self.transpose) % 2 == 1

    def direction(self, vector: tuple[float, float]) -> tuple[float, float]:
        """The image of a screen direction (x, y)."""
        x, y = vector
        if self.transpose:
            x, y = y, x
        return (-x if self.hflip else x, -y if self.vflip else y)

    def apply(self, array: np.ndarray) -> np.ndarray:
        """Frames (T, H, W, ...) with the symmetry applied (a view: no copy)."""
        if self.transpose:
            array = array.swapaxes(1, 2)
        if self.hflip:
            array = array[:, :, ::-1]
        if self.vflip:
            array = array[:, ::-1]
        return array


#: the eight symmetries of a square frame (the identity first); a frame that is not square has the first four
SYMMETRIES: tuple[FrameSymmetry, ...] = tuple(
    FrameSymmetry(h, v, t) for t, h, v in itertools.product((False, True), repeat=3))


def action_image(key: str, symmetry: FrameSymmetry) -> str:
    """The key of the action a clip of action ``key`` shows once ``symmetry`` is applied to its frames."""
    if key not in ACTIONS:
        raise ValueError(f"unknown action {key!r}; valid: {', '.join(ACTIONS)}")
    if key in _INVARIANT:
        return key
    if key in _SENSE_PAIRS:
        return _SENSE_PAIRS[key] if symmetry.is_reflection else key
    if key in _TRANSLATION_DIRECTION:
        return _TRANSLATIONS[_NAMES[symmetry.direction(DIRECTIONS[_TRANSLATION_DIRECTION[key]])]]
    first, second = key.split("_")  # a window-design loop: first move, second move
    return "_".join(_NAMES[symmetry.direction(DIRECTIONS[word])] for word in (first, second))


def class_permutation(keys: Sequence[str], symmetry: FrameSymmetry) -> list[int]:
    """(K,) the class index a clip of class ``k`` (action ``keys[k]``) has after ``symmetry``; raises ValueError when
    an image is not one of ``keys`` (a class set that is not closed under the symmetry)."""
    index = {key: k for k, key in enumerate(keys)}
    images = [action_image(key, symmetry) for key in keys]
    missing = sorted({image for image in images if image not in index})
    if missing:
        raise ValueError(f"the classes {list(keys)} are not closed under the frame's mirror images: "
                         f"{', '.join(missing)} would be needed; set data.symmetry_augment=false or add them")
    return [index[image] for image in images]


class SymmetryAugment:
    """A random frame symmetry with the class relabelled, then (on the torus) a random cyclic shift.

    ``(frames (T, H, W, 3), evidence (T, H, W) or None, label) -> the same, transformed``; the evidence mask moves
    with the frames. Random draws come from ``torch``'s global generator (seeded per data-loader worker).
    """

    def __init__(self, keys: Sequence[str], square: bool, torus: bool):
        self.symmetries = SYMMETRIES if square else SYMMETRIES[:4]
        self.permutations = [class_permutation(keys, s) for s in self.symmetries]
        self.torus = torus

    def __call__(self, frames: np.ndarray, evidence: Optional[np.ndarray],
                 label: int) -> tuple[np.ndarray, Optional[np.ndarray], int]:
        choice = int(torch.randint(len(self.symmetries), (1,)))
        symmetry = self.symmetries[choice]
        frames = symmetry.apply(frames)
        evidence = symmetry.apply(evidence) if evidence is not None else None
        label = self.permutations[choice][label] if label >= 0 else label
        if self.torus:
            dy, dx = (int(torch.randint(n, (1,))) for n in frames.shape[1:3])
            frames = np.roll(frames, (dy, dx), axis=(1, 2))
            evidence = np.roll(evidence, (dy, dx), axis=(1, 2)) if evidence is not None else None
        return frames, evidence, label
