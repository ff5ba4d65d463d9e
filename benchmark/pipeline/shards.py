"""Partial results of the explain-and-score stage, one small file per (model, method, clip batch).

A shard is written atomically once its work is finished, so a killed run resumes by skipping every shard that
exists. A unit that failed (its rows hold an error of stage ``explain+score``) is written as
``batch-NNNNN.failed.json`` instead: it is not done, the next run retries it, and its errors stay in ``errors.csv``
until the retry succeeds. Merging sorts rows by their keys, so the final tables do not depend on the order shards
were made in, on resuming, or on how many ranks shared the work. Each training seed has its own folder of shards;
the merged tables carry the seed in a trailing ``seed`` column.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pandas as pd

from stabn_bench.core import RESULT_COLUMNS

from ..runtime import atomic_write_text

#: columns of each table a shard contributes to (docs/design.md section 6 plus the report's extra files)
TABLE_COLUMNS = {
    **{name: RESULT_COLUMNS[name] for name in ("scores", "curves", "temporal", "errors")},
    # metric validity: the same metrics under several tie-break seeds (benchmark/pipeline/validity.py)
    "tie_scores": ["model", "method", "metric", "clip_id", "tie_seed", "value"],
}
#: the column the merged tables gain after TABLE_COLUMNS: the training seed of the model that was explained
SEED_COLUMN = "seed"
_SORT_KEYS = {
    "scores": ["model", "method", "metric", "seed", "clip_id"],
    "curves": ["model", "method", "metric", "seed", "clip_id", "fraction"],
    "temporal": ["model", "method", "seed", "clip_id", "frame"],
    "errors": ["model", "method", "seed", "clip_id", "stage"],
    "tie_scores": ["model", "method", "metric", "seed", "tie_seed", "clip_id"],
}


#: the error stage of a unit whose method failed (rows in ``errors``); such a unit is retried by the next run
FAILED_STAGE = "explain+score"


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
    """Shards of one run under ``<run_dir>/.state/shards/seed-<seed>/<model>/<method>/batch-NNNNN.json``.

    ``seed``: the training seed whose shards this store reads and writes; None (merging only) = every seed.
    """

    def __init__(self, run_dir: Path, seed: Optional[int] = None):
        self.base = Path(run_dir) / ".state" / "shards"
        self.seed = seed
        self.root = self.base / f"seed-{seed}" if seed is not None else self.base

    def path(self, model: str, method: str, batch: int) -> Path:
        return self.root / _safe(model) / _safe(method) / f"batch-{batch:05d}.json"

    def failed_path(self, model: str, method: str, batch: int) -> Path:
        return self.root / _safe(model) / _safe(method) / f"batch-{batch:05d}.failed.json"

    def done(self, model: str, method: str, batch: int) -> bool:
        return self.path(model, method, batch).is_file()

    def write(self, model: str, method: str, batch: int, shard: Shard) -> None:
        failed = any(row[3] == FAILED_STAGE for row in shard.rows["errors"])
        path, other = self.path(model, method, batch), self.failed_path(model, method, batch)
        if failed:
            path, other = other, path
        atomic_write_text(path, json.dumps(shard.rows, allow_nan=True))
        other.unlink(missing_ok=True)

    def _read(self, path: Path) -> dict:
        from ..errors import StabnBenchError

        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise StabnBenchError(f"partial result '{path}' is unreadable or corrupt ({type(err).__name__}); delete "
                                  "that file (its work is redone) or pass --restart") from None
        if not isinstance(rows, dict) or any(not isinstance(rows.get(n, []), list) for n in TABLE_COLUMNS) or any(
                not isinstance(r, list) or len(r) != len(TABLE_COLUMNS[n]) for n in TABLE_COLUMNS for r in rows.get(n, [])):
            raise StabnBenchError(f"partial result '{path}' is corrupt (not the rows of {', '.join(TABLE_COLUMNS)}); "
                                  "delete that file (its work is redone) or pass --restart")
        return rows

    def _shard_files(self) -> list[Path]:
        """Finished shards, plus the failed ones whose unit has no finished shard (yet)."""
        files = []
        pattern = "*/*/batch-*.json" if self.seed is not None else "seed-*/*/*/batch-*.json"
        for path in sorted(self.root.glob(pattern)):
            if path.name.endswith(".failed.json") and path.with_name(path.name.replace(".failed", "")).is_file():
                continue
            files.append(path)
        return files

    def check(self) -> None:
        """Read every shard once: a corrupt file is an error naming it (before any work starts)."""
        for path in self._shard_files():
            self._read(path)

    def failed_units(self) -> list[tuple[str, str, str]]:
        """(model, method, first error) per failed unit not yet redone, sorted."""
        out = []
        for path in self._shard_files():
            if path.name.endswith(".failed.json"):
                errors = [r for r in self._read(path)["errors"] if r[3] == FAILED_STAGE]
                if errors:
                    out.append((str(errors[0][0]), str(errors[0][1]), str(errors[0][4])))
        return sorted(out)

    def merge(self) -> dict[str, pd.DataFrame]:
        """Every shard's rows (of this store's seed, or of every seed), one sorted DataFrame per table, with the
        columns of TABLE_COLUMNS followed by ``seed`` (an error listed twice is kept once)."""
        collected: dict[str, list[list]] = {name: [] for name in TABLE_COLUMNS}
        for path in self._shard_files():
            rows = self._read(path)
            seed = int(path.parents[2].name.removeprefix("seed-"))
            for name in TABLE_COLUMNS:
                collected[name].extend([*row, seed] for row in rows.get(name, []))
        tables = {}
        for name, columns in TABLE_COLUMNS.items():
            frame = pd.DataFrame(collected[name], columns=[*columns, SEED_COLUMN])
            if name == "errors":
                frame = frame.drop_duplicates(ignore_index=True)
            tables[name] = frame.sort_values(_SORT_KEYS[name], kind="stable").reset_index(drop=True)
        return tables
