"""The (model, metric) pairs that failed the metric-validity check (``metric_validity.csv``), for daggers in tables.

One reader for every table: :func:`stabn_bench.benchmark.report.validity.read_validity` and
:func:`stabn_bench.metrics.validity.validity_flags` (status ``fail``). No file: no flags.
"""
from __future__ import annotations

from pathlib import Path

from stabn_bench.metrics.validity import validity_flags

from .validity import read_validity


def flagged_metrics(run_dir: str | Path) -> set[tuple[str, str]]:
    """``{(model, metric)}`` whose validity check failed (empty when the run has no ``metric_validity.csv``)."""
    return {key for key, passed in validity_flags(read_validity(run_dir)).items() if not passed}
