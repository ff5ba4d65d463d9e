"""The action classes of the synthetic data set: what the target does over the action window.

Every action is a path through *target states* (centre, size, opacity) parameterised by the action progress
``p`` in [0, 1]: ``p = 0`` before the window, ``p = 1`` after it. Actions come in time-reversed pairs: reversing
a clip of one class gives a clip of its pair, and no single frame tells the two apart.

Two designs (``data.synthetic.design``):

- ``window`` (the default): *excursions*. The target wanders like every other object, in a decoy's colour; on
  the window's frames it turns red and runs a closed loop through the corners of a square (first along one axis,
  then the other, then back), one corner per frame starting at the point it left (the anchor), and it is back at
  the anchor, in its decoy colour, on the frame after the window. The path is an offset from the anchor that is
  zero at ``p = 0`` and ``p = 1``, so the frames outside the window are the same for every class, and the red
  frames show the same square for every class: only the order of its corners tells the class. Played backwards,
  the red corners of loop ``first, second`` run along ``first`` and then against ``second``: that loop is its
  time-reversed pair.
- ``endpoints`` (the earlier design, kept so that old results reproduce): translations, scaling, fading and
  orbits of a target that is still outside the window. Its start and end states differ, so the first and last
  frame tell the class.

Positions are in pixels (x to the right, y downwards), sizes are disc diameters in pixels.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class TargetState:
    """Where the target is and how it looks at one moment: centre (x, y), diameter and opacity in [0, 1]."""

    x: float
    y: float
    size: float
    alpha: float


@dataclass(frozen=True)
class ActionPath:
    """A drawn instance of an action: ``state(p)`` for progress ``p`` in [0, 1] (0 = start, 1 = end)."""

    state: Callable[[float], TargetState]
    #: the inverse path direction (reversed classes run the same path backwards)
    reversed: bool = False

    def at(self, progress: float) -> TargetState:
        return self.state(1.0 - progress if self.reversed else progress)


@dataclass(frozen=True)
class Action:
    """One class: its SSv2-style template, the key of its time-reversed pair and how to draw a path."""

    key: str
    template: str
    pair: str
    #: draws the forward path of the pair, ``(rng, height, width, size) -> state(p)``; shared by both members
    draw: Callable[[np.random.Generator, int, int, float], Callable[[float], TargetState]]
    #: whether this member runs the drawn path backwards
    backwards: bool
    #: the synthetic design the action belongs to (``window``: ``draw`` gives an offset from the anchor)
    design: str = "endpoints"

    @property
    def label(self) -> str:
        """The SSv2 label text: the template without the ``[]`` brackets."""
        return self.template.replace("[", "").replace("]", "")

    def sample_path(self, rng: np.random.Generator, height: int, width: int, size: float) -> ActionPath:
        return ActionPath(self.draw(rng, height, width, size), reversed=self.backwards)


def _lerp(a: float, b: float, p: float) -> float:
    return a + (b - a) * p


def _translation(axis: str) -> Callable[[np.random.Generator, int, int, float], Callable[[float], TargetState]]:
    """A straight move along ``axis`` ('x' to the right, 'y' downwards) over 35-55% of the frame."""

    def draw(rng: np.random.Generator, height: int, width: int, size: float) -> Callable[[float], TargetState]:
        along, across = (width, height) if axis == "x" else (height, width)
        margin = size / 2 + 1
        distance = float(rng.uniform(0.35, 0.55)) * (along - 2 * margin)
        start = float(rng.uniform(margin, along - margin - distance))
        fixed = float(rng.uniform(margin, across - margin))

        def state(p: float) -> TargetState:
            moving = _lerp(start, start + distance, p)
            x, y = (moving, fixed) if axis == "x" else (fixed, moving)
            return TargetState(x, y, size, 1.0)

        return state

    return draw


def _scaling(rng: np.random.Generator, height: int, width: int, size: float) -> Callable[[float], TargetState]:
    """Growing from 0.55x to 1.6x the nominal size in place (an object approaching the camera)."""
    small, large = 0.55 * size, 1.6 * size
    margin = large / 2 + 1
    x = float(rng.uniform(margin, width - margin))
    y = float(rng.uniform(margin, height - margin))
    return lambda p: TargetState(x, y, _lerp(small, large, p), 1.0)


def _fading(rng: np.random.Generator, height: int, width: int, size: float) -> Callable[[float], TargetState]:
    """Fading in from invisible to fully visible in place."""
    margin = size / 2 + 1
    x = float(rng.uniform(margin, width - margin))
    y = float(rng.uniform(margin, height - margin))
    return lambda p: TargetState(x, y, size, p)


def _orbit(rng: np.random.Generator, height: int, width: int, size: float) -> Callable[[float], TargetState]:
    """Three quarters of a clockwise circle (on screen, y downwards) around a random centre."""
    radius = float(rng.uniform(0.18, 0.25)) * min(height, width)
    margin = radius + size / 2 + 1
    cx = float(rng.uniform(margin, width - margin))
    cy = float(rng.uniform(margin, height - margin))
    start = float(rng.uniform(0, 2 * math.pi))

    def state(p: float) -> TargetState:
        angle = start + 1.5 * math.pi * p
        return TargetState(cx + radius * math.cos(angle), cy + radius * math.sin(angle), size, 1.0)

    return state


def _pair(forward: tuple[str, str], backward: tuple[str, str], draw, design: str = "endpoints") -> list[Action]:
    return [
        Action(forward[0], forward[1], backward[0], draw, backwards=False, design=design),
        Action(backward[0], backward[1], forward[0], draw, backwards=True, design=design),
    ]


#: screen directions (x to the right, y downwards) of the direction words in action keys
DIRECTIONS = {"right": (1.0, 0.0), "left": (-1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}


def loop_offset(first: tuple[float, float], second: tuple[float, float], side: float, p: float) -> tuple[float, float]:
    """Offset (dx, dy) from the anchor after a fraction ``p`` of a closed loop excursion.

    The loop is the circle through the corners of the square ``0 -> first -> first + second -> second`` (side
    ``side``), run at constant angular speed in that order: (0, 0) at ``p = 0`` and ``p = 1``, at the corners at
    ``p = 1/4, 1/2, 3/4``. Equal steps in time are equal steps (chords) in space, so the target moves as far
    between any two frames of its excursion. Run backwards (``p -> 1 - p``) it is the loop that starts towards
    ``second``: the time-reversed pair.
    """
    cx, cy = side * (first[0] + second[0]) / 2, side * (first[1] + second[1]) / 2
    radius = float(np.hypot(cx, cy))
    start = float(np.arctan2(-cy, -cx))
    # the sense that reaches the corner ``first`` a quarter of the way round
    quarter = (start + np.pi / 2, start - np.pi / 2)
    ax, ay = side * first[0], side * first[1]
    sense = 1.0 if np.hypot(cx + radius * np.cos(quarter[0]) - ax, cy + radius * np.sin(quarter[0]) - ay) < 1e-6 * max(side, 1) else -1.0
    angle = start + sense * 2 * np.pi * min(max(p, 0.0), 1.0)
    return cx + radius * float(np.cos(angle)), cy + radius * float(np.sin(angle))


def _excursion(first: str, second: str):
    """Draws the forward excursion of a pair: ``(rng, height, width, side) -> offset state(p)`` (no random draw,
    so that the frames outside the window do not depend on the class)."""
    a, b = DIRECTIONS[first], DIRECTIONS[second]

    def draw(rng: np.random.Generator, height: int, width: int, side: float) -> Callable[[float], TargetState]:
        def state(p: float) -> TargetState:
            dx, dy = loop_offset(a, b, side, p)
            return TargetState(dx, dy, 0.0, 1.0)

        return state

    return draw


_OPPOSITE = {"right": "left", "left": "right", "up": "down", "down": "up"}


def _excursion_pair(first: str, second: str) -> list[Action]:
    """The loop ``first, second`` and its time-reversed pair ``first, opposite(second)``: played backwards, the
    red frames of a loop (anchor, then the corners ``first``, ``first + second``, ``second``) start at the corner
    ``second`` and run along ``first`` and then against ``second``. Each member draws its own loop forwards."""
    other = _OPPOSITE[second]
    return [
        Action(f"{first}_{second}", f"Moving [something] {first}, {second} and back", f"{first}_{other}",
               _excursion(first, second), backwards=False, design="window"),
        Action(f"{first}_{other}", f"Moving [something] {first}, {other} and back", f"{first}_{second}",
               _excursion(first, other), backwards=False, design="window"),
    ]


#: Every available action, in label order; pairs are adjacent.
ACTIONS: dict[str, Action] = {
    action.key: action
    for action in [
        *_pair(("left_to_right", "Moving [something] from left to right"),
               ("right_to_left", "Moving [something] from right to left"), _translation("x")),
        *_pair(("down", "Moving [something] down"), ("up", "Moving [something] up"), _translation("y")),
        *_pair(("closer", "Moving [something] closer"), ("away", "Moving [something] away"), _scaling),
        *_pair(("appearing", "[Something] appearing"), ("disappearing", "[Something] disappearing"), _fading),
        *_pair(("clockwise", "Moving [something] around clockwise"),
               ("counterclockwise", "Moving [something] around counterclockwise"), _orbit),
        *_excursion_pair("right", "up"),
        *_excursion_pair("left", "up"),
        *_excursion_pair("up", "right"),
        *_excursion_pair("down", "right"),
    ]
}

#: The default class set of each design: four time-reversed pairs (eight classes).
DESIGN_ACTIONS: dict[str, list[str]] = {
    "window": ["right_up", "right_down", "left_up", "left_down", "up_right", "up_left", "down_right", "down_left"],
    "endpoints": ["left_to_right", "right_to_left", "down", "up", "closer", "away", "appearing", "disappearing"],
}
DESIGNS: tuple[str, ...] = tuple(DESIGN_ACTIONS)
#: The default class set of the default design.
DEFAULT_ACTIONS: list[str] = DESIGN_ACTIONS["window"]


def resolve_actions(keys: list[str], design: str | None = None) -> list[Action]:
    """The actions named by ``keys`` (all of ``design``'s default set when ``keys`` is empty); raises ValueError
    unless every action's pair is named too and, with ``design``, every action belongs to it."""
    if not keys:
        if design is None:
            raise ValueError("no actions named")
        keys = DESIGN_ACTIONS[design]
    unknown = [k for k in keys if k not in ACTIONS]
    if unknown:
        raise ValueError(f"unknown action(s) {unknown}; valid: {', '.join(ACTIONS)}")
    if design is not None:
        foreign = [k for k in keys if ACTIONS[k].design != design]
        if foreign:
            raise ValueError(f"action(s) {foreign} belong to another design than '{design}'; the '{design}' design "
                             f"has {', '.join(k for k, a in ACTIONS.items() if a.design == design)}")
    missing = [ACTIONS[k].pair for k in keys if ACTIONS[k].pair not in keys]
    if missing:
        raise ValueError(f"actions come in time-reversed pairs; add {sorted(set(missing))}")
    if len(set(keys)) != len(keys):
        raise ValueError(f"actions {keys} name a class twice")
    return [ACTIONS[k] for k in keys]


def action_progress(num_frames: int, start: int, end: int) -> np.ndarray:
    """(T,) progress per frame for the action window ``[start, end)``.

    0 up to frame ``start - 1``, then ``(t - start + 1) / (L + 1)`` inside the window (L = end - start), 1 from
    frame ``end`` on: the target is in an intermediate state exactly on the window's frames, and reversing the
    clip maps the window ``[s, e)`` to ``[T - e, T - s)`` with progress ``1 - p``.
    """
    t = np.arange(num_frames, dtype=np.float64)
    length = end - start
    return np.clip((t - start + 1) / (length + 1), 0.0, 1.0)




@dataclass(frozen=True)
class WindowPlacement:
    """Where action windows go: K (length, start) pairs and their probabilities (windows lie inside the clip).

    Attributes:
        num_frames: T.
        lengths: (K,) window lengths in frames.
        starts: (K,) first frame of each window.
        probability: (K,) float64, summing to 1.
    """

    num_frames: int
    lengths: np.ndarray
    starts: np.ndarray
    probability: np.ndarray

    def covers(self) -> np.ndarray:
        """(K, T) bool: frame t lies inside window k."""
        frames = np.arange(self.num_frames)
        return (frames >= self.starts[:, None]) & (frames < (self.starts + self.lengths)[:, None])

    def coverage(self) -> np.ndarray:
        """(T,) probability that each frame lies inside the window (the *placement prior* of temporal metrics)."""
        return self.probability @ self.covers()

    def sample(self, rng: np.random.Generator) -> tuple[int, int]:
        """One window ``(start, end)`` drawn with one uniform draw from ``rng``."""
        cumulative = np.cumsum(self.probability)
        k = min(int(np.searchsorted(cumulative, rng.uniform(0, cumulative[-1]), side="right")), len(cumulative) - 1)
        return int(self.starts[k]), int(self.starts[k] + self.lengths[k])


#: weight of the coverage flatness against the entropy of the placement (see :func:`window_placement`)
FLATNESS_WEIGHT = 1e5


@functools.lru_cache(maxsize=32)
def window_placement(num_frames: int, window_min: int, window_max: int) -> WindowPlacement:
    """The placement of action windows of ``window_min..window_max`` frames in clips of ``num_frames``.

    Every frame is equally likely to lie inside the window (flat coverage), so that no fixed per-frame profile
    scores a temporal AUROC above chance by favouring the frames where windows usually lie. Uniform starts do not
    do this: they cover the middle frames far more often than the ends. A window that lies inside the clip covers
    frame 0 only by starting there, so flat coverage makes about E[L] / T of the windows start at frame 0 and as
    many end at the last frame; the rest tile the middle. Flat coverage alone would still let a fixed centre
    profile reach an AUROC away from 0.5 (a clip's AUROC weighs a frame pair by 1 / (n_in * n_out), which differs
    between window lengths), so the placement also balances every frame pair: the expected weight of "i in the
    window, j not" equals that of "j in, i not", which makes the expected AUROC of *every* fixed profile 0.5.
    Among such placements the one of largest entropy (windows spread over as many (length, start) pairs as
    possible) is found by minimising ``FLATNESS_WEIGHT * (coverage deviation^2 + pair imbalance^2) - entropy``
    with L-BFGS over softmax weights. Deterministic (no random draw).
    """
    from scipy.optimize import minimize  # late import: only the generator needs it

    if not 1 <= window_min <= window_max <= num_frames:
        raise ValueError(f"need 1 <= window_min <= window_max <= num_frames, got {window_min}, {window_max}, {num_frames}")
    pairs = [(length, start) for length in range(window_min, window_max + 1) for start in range(num_frames - length + 1)]
    lengths = np.array([length for length, _ in pairs])
    starts = np.array([start for _, start in pairs])
    cover = WindowPlacement(num_frames, lengths, starts, np.zeros(len(pairs))).covers().astype(np.float64)
    # pair balance: a clip's AUROC weighs each (in, out) frame pair by 1 / (n_in * n_out); the expected weight of
    # "i in, j out" must equal that of "j in, i out", or a fixed profile could still beat chance
    inside, outside = cover.sum(axis=1), num_frames - cover.sum(axis=1)
    pair_weight = cover[:, :, None] * (1 - cover[:, None, :]) / np.maximum(inside * outside, 1)[:, None, None]
    asymmetry = (pair_weight - pair_weight.transpose(0, 2, 1)).reshape(len(pairs), -1)  # (K, T*T)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        p = np.exp(theta - theta.max())
        p /= p.sum()
        deviation = p @ cover
        deviation = deviation - deviation.mean()
        imbalance = p @ asymmetry
        log_p = np.log(np.maximum(p, 1e-300))
        value = FLATNESS_WEIGHT * float(deviation @ deviation + imbalance @ imbalance) + float(p @ log_p)
        grad_p = 2 * FLATNESS_WEIGHT * (cover @ deviation + asymmetry @ imbalance) + log_p + 1  # d value / d p
        return value, p * (grad_p - p @ grad_p)  # through the softmax

    result = minimize(objective, np.zeros(len(pairs)), jac=True, method="L-BFGS-B",
                      options={"maxiter": 5000, "gtol": 1e-12, "ftol": 1e-16})
    p = np.exp(result.x - result.x.max())
    return WindowPlacement(num_frames, lengths, starts, p / p.sum())
