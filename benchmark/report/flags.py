"""The (model, metric) pairs that failed the metric-validity check (``metric_validity.csv``), for daggers in tables.

The file has one row per model and metric and a pass/fail column; this reader accepts any of the column names
:data:`FLAG_COLUMNS` (values true/false, 1/0, yes/no, pass/fail), and ignores any other column. No file: no flags.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

VALIDITY_FILE = "metric_validity.csv"
FLAG_COLUMNS = ("passed", "pass", "valid", "ok", "status", "result")
_TRUE = {"true", "1", "yes", "pass", "passed", "ok", "valid"}
_FALSE = {"false", "0", "no", "fail", "failed", "invalid"}


def read_validity(run_dir: str | Path) -> pd.DataFrame | None:
    """``metric_validity.csv`` of a run as text columns, or None when absent or unreadable."""
    path = Path(run_dir) / VALIDITY_FILE
    if not path.exists():
        return None
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        return None


def flagged_metrics(run_dir: str | Path) -> set[tuple[str, str]]:
    """``{(model, metric)}`` whose validity check failed (empty when the file or its flag column is missing)."""
    table = read_validity(run_dir)
    if table is None or not {"model", "metric"} <= set(table.columns):
        return set()
    column = next((c for c in FLAG_COLUMNS if c in table.columns), None)
    if column is None:
        return set()
    failed = table[table[column].str.strip().str.lower().isin(_FALSE)]
    return set(zip(failed["model"], failed["metric"]))
