"""Where the explain-and-score time goes: seconds and forward passes per named part of the work.

A :class:`CostLedger` rides on a :class:`~stabn_bench.metrics.engine.PerturbationEngine` (``engine.costs``); the
scorer and the clip-batch runner wrap each part of their work in ``with engine.costs.part(name):``. Parts nest
(``score/deletion``, ``ties/score/deletion``); each records its wall time and the engine's forward passes made
and answered from the memo during it, so that ``stabn-bench perf score`` and the run's ``provenance.json`` can
split the explain + score time by method and by metric, and set the milliseconds per forward against the
engine's own forward floor.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Protocol


class _Counts(Protocol):
    inputs_evaluated: int
    inputs_reused: int
    forward_seconds: float


@dataclass
class Cost:
    """What one part cost: wall ``seconds``; ``forwards`` inputs run through the model; ``reused`` inputs answered
    by the memo; ``forward_seconds`` of those seconds spent building and running the engine's batches."""

    seconds: float = 0.0
    forwards: int = 0
    reused: int = 0
    forward_seconds: float = 0.0

    def add(self, other: "Cost") -> None:
        self.seconds += other.seconds
        self.forwards += other.forwards
        self.reused += other.reused
        self.forward_seconds += other.forward_seconds

    def as_list(self) -> list[float]:
        """``[seconds, forwards, reused, forward_seconds]`` (the JSON form)."""
        return [round(self.seconds, 4), self.forwards, self.reused, round(self.forward_seconds, 4)]

    @classmethod
    def from_list(cls, values: list) -> "Cost":
        seconds, forwards, reused, forward_seconds = values
        return cls(float(seconds), int(forwards), int(reused), float(forward_seconds))


class CostLedger:
    """Costs by part name, for the work of one engine; ``take()`` hands them over and starts afresh.

    A part's cost includes the parts nested in it (``score`` includes ``score/deletion``); the ``self`` form of
    :func:`exclusive` subtracts them.
    """

    def __init__(self, counts: _Counts) -> None:
        self._counts = counts
        self._stack: list[str] = []
        self.parts: dict[str, Cost] = {}

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        """Account the enclosed work to ``name`` (below the enclosing part, joined by ``/``)."""
        self._stack.append(name)
        key = "/".join(self._stack)
        counts = self._counts
        started = time.perf_counter()
        forwards, reused, forward_seconds = counts.inputs_evaluated, counts.inputs_reused, counts.forward_seconds
        try:
            yield
        finally:
            self._stack.pop()
            self.parts.setdefault(key, Cost()).add(Cost(
                time.perf_counter() - started, counts.inputs_evaluated - forwards, counts.inputs_reused - reused,
                counts.forward_seconds - forward_seconds,
            ))

    def take(self) -> dict[str, Cost]:
        """The costs recorded so far (the ledger starts empty again)."""
        parts, self.parts = self.parts, {}
        return parts


def exclusive(parts: dict[str, Cost]) -> dict[str, Cost]:
    """Each part's cost without the parts nested directly in it (so that the values add up to the total)."""
    out = {key: Cost(cost.seconds, cost.forwards, cost.reused, cost.forward_seconds) for key, cost in parts.items()}
    for key, cost in parts.items():
        parent = key.rpartition("/")[0]
        if parent in out:
            out[parent].seconds -= cost.seconds
            out[parent].forwards -= cost.forwards
            out[parent].reused -= cost.reused
            out[parent].forward_seconds -= cost.forward_seconds
    return out
