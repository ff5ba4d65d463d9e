"""Partial results of the explain-and-score stage, one small file per (model, method, clip batch).

A shard is written atomically once its work is finished, so a killed run resumes by skipping every shard that
exists; merging sorts rows by their keys, so the final tables do not depend on the order shards were made in, on
resuming, or on how many ranks shared the work.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..runtime import atomic_write_text

#: columns of each table a shard contributes to (docs/design.md section 6 plus the report's extra files)
TABLE_COLUMNS = {
    "scores": ["model", "method", "metric", "clip_id", "value"],
    "curves": ["model", "method", "metric", "clip_id", "fraction", "score"],
    "temporal": ["model", "method", "clip_id", "frame", "importance", "in_window"],
    "errors": ["model", "method", "clip_id", "stage", "error"],
}
_SORT_KEYS = {
    "scores": ["model", "method", "metric", "clip_id"],
    "curves": ["model", "method", "metric", "clip_id", "fraction"],
    "temporal": ["model", "method", "clip_id", "frame"],
    "errors": ["model", "method", "clip_id", "stage"],
}


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


@dataclass
class Shard:
    """Rows produced by one (model, method, batch) unit of work; keys of ``rows`` are TABLE_COLUMNS' names."""

    rows: dict[str, list[list]] = field(default_factory=lambda: {name: [] for name in TABLE_COLUMNS})

    def add(self, table: str, *row) -> None:
        if len(row) != len(TABLE_COLUMNS[table]):
            raise ValueError(f"a row of {table} needs {TABLE_COLUMNS[table]}, got {row!r}")
        self.rows[table].append(list(row))


class ShardStore:
    """Shards of one run under ``<run_dir>/.state/shards/<model>/<method>/batch-NNNNN.json``."""

    def __init__(self, run_dir: Path):
        self.root = Path(run_dir) / ".state" / "shards"

    def path(self, model: str, method: str, batch: int) -> Path:
        return self.root / _safe(model) / _safe(method) / f"batch-{batch:05d}.json"

    def done(self, model: str, method: str, batch: int) -> bool:
        return self.path(model, method, batch).is_file()

    def write(self, model: str, method: str, batch: int, shard: Shard) -> None:
        atomic_write_text(self.path(model, method, batch), json.dumps(shard.rows, allow_nan=True))

    def merge(self) -> dict[str, pd.DataFrame]:
        """Every shard's rows, one sorted DataFrame per table."""
        collected: dict[str, list[list]] = {name: [] for name in TABLE_COLUMNS}
        for path in sorted(self.root.glob("*/*/batch-*.json")):
            rows = json.loads(path.read_text())
            for name in TABLE_COLUMNS:
                collected[name].extend(rows.get(name, []))
        tables = {}
        for name, columns in TABLE_COLUMNS.items():
            frame = pd.DataFrame(collected[name], columns=columns)
            tables[name] = frame.sort_values(_SORT_KEYS[name], kind="stable").reset_index(drop=True)
        return tables
