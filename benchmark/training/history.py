"""Per-epoch training metrics: ``metrics.csv`` (rewritten atomically each epoch) and TensorBoard when installed."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from ..runtime import atomic_path

log = logging.getLogger("stabn_bench")


class MetricsLog:
    """One row per epoch: losses and top-1/top-5 of each head (train and validation), lr, clips/s."""

    def __init__(self, out_dir: str | Path, rows: list[dict[str, Any]] | None = None, tensorboard: bool = True) -> None:
        self.path = Path(out_dir) / "metrics.csv"
        self.rows = list(rows or [])
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(log_dir=str(Path(out_dir) / "tensorboard"))
            except Exception:  # noqa: BLE001 - TensorBoard is optional (ImportError, or a broken install)
                log.debug("TensorBoard not installed; metrics go to %s only", self.path)

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(dict(row))
        with atomic_path(self.path) as tmp:
            pd.DataFrame(self.rows).to_csv(tmp, index=False)
        if self.writer is not None:
            for key, value in row.items():
                if key != "epoch" and isinstance(value, (int, float)):
                    self.writer.add_scalar(key.replace("_", "/", 1), value, row["epoch"])
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
