"""How long a run's stages took, and how much of their work the run computed rather than reused.

``provenance.json`` holds ``timings_s`` (seconds per stage, summed over the invocations of a resumed run) and
``stage_units`` (per stage: units ``computed`` over all invocations, units ``reused`` from outside the run, e.g.
cached checkpoints, the ``unit`` they count and how many ``invocations`` reached the stage). A time quoted from a
run that reused work or was resumed says so.
"""
from __future__ import annotations

from typing import Any

#: the stages of ``stabn-bench run``, in order
STAGES = ("data", "train", "accuracy", "alignment", "explain", "tables", "report")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def stage_seconds(provenance: dict) -> dict[str, float]:
    """Seconds per stage (the per-method entries ``stage:...`` left out); non-numbers are skipped."""
    timings = provenance.get("timings_s") if isinstance(provenance, dict) else None
    if not isinstance(timings, dict):
        return {}
    out = {}
    for name, value in timings.items():
        seconds = _number(value)
        if isinstance(name, str) and ":" not in name and seconds is not None:
            out[name] = seconds
    return out


def stage_units(provenance: dict) -> dict[str, dict[str, Any]]:
    """Well-formed ``stage_units`` entries only."""
    units = provenance.get("stage_units") if isinstance(provenance, dict) else None
    if not isinstance(units, dict):
        return {}
    out = {}
    for stage, entry in units.items():
        if isinstance(entry, dict) and all(_number(entry.get(k)) is not None for k in ("computed", "reused")):
            out[stage] = {"computed": int(entry["computed"]), "reused": int(entry["reused"]),
                          "unit": str(entry.get("unit", "units")),
                          "invocations": int(_number(entry.get("invocations")) or 1)}
    return out


def reused_work(provenance: dict) -> list[str]:
    """What a run did not compute itself, in words (empty for a run computed from scratch in one go)."""
    notes = []
    for stage, entry in stage_units(provenance).items():
        if entry["reused"]:
            notes.append(f"{stage}: {entry['reused']} of {entry['reused'] + entry['computed']} {entry['unit']} "
                         "reused from caches")
        if entry["invocations"] > 1:
            notes.append(f"{stage}: resumed over {entry['invocations']} invocations")
    return notes


def stage_times_text(provenance: dict) -> str:
    """``train 350 s (9 of 9 trainings computed), explain 758 s (...)``: every stage with its seconds and, where
    counted, how many of its units this run computed."""
    units = stage_units(provenance)
    parts = []
    for stage, seconds in stage_seconds(provenance).items():
        text = f"{stage} {seconds:.0f} s"
        if stage in units:
            entry = units[stage]
            total = entry["computed"] + entry["reused"]
            text += f" ({entry['computed']} of {total} {entry['unit']} computed)"
        parts.append(text)
    return ", ".join(parts)


def total_minutes(provenance: dict) -> float:
    return sum(stage_seconds(provenance).values()) / 60
