"""Batching of data set items: undecodable clips are dropped and reported, never replaced."""
from __future__ import annotations

import csv
import io
import logging
import os
from typing import Iterable

import numpy as np
import torch

from ..runtime import atomic_write_text
from .datasets import DecodeFailure, Item

log = logging.getLogger("stabn_bench.data")

#: keys stacked into tensors when every item has them
_TENSOR_KEYS = ("clip", "evidence", "window")


def collate_clips(items: list[Item]) -> dict:
    """DataLoader ``collate_fn``: stack the decodable items, list the others in ``batch["skipped"]``.

    Returns ``{"clip": (N, C, T, H, W), "label": (N,) int64, "clip_id": [N str], "skipped": ["path: reason"],
    "skipped_ids": [clip id per skipped entry]}``
    plus ``"evidence"`` (N, T, H, W) and ``"window"`` (N, T) where the items carry ground truth. N may be
    smaller than the number of items, and 0 when none could be decoded (then "clip" is an empty tensor).
    """
    good = [item for item in items if not isinstance(item, DecodeFailure)]
    skipped = [str(item) for item in items if isinstance(item, DecodeFailure)]
    batch: dict = {
        "label": torch.tensor([item["label"] for item in good], dtype=torch.int64),
        "clip_id": [item["clip_id"] for item in good],
        "skipped": skipped,
        "skipped_ids": [item.clip_id for item in items if isinstance(item, DecodeFailure)],
    }
    for key in _TENSOR_KEYS:
        if good and all(key in item for item in good):
            # NumPy's single-threaded copy: torch.stack's intra-op threads stall on a busy CPU
            batch[key] = torch.from_numpy(np.stack([item[key].numpy() for item in good]))
    if not good:
        batch["clip"] = torch.empty(0)
    return batch


class SkipReport:
    """Collects the clips skipped over a run (from ``batch["skipped"]``) and writes them as CSV ``path,reason``."""

    def __init__(self) -> None:
        self.entries: list[str] = []

    def update(self, batch_or_skipped: dict | Iterable[str]) -> None:
        skipped = batch_or_skipped.get("skipped", []) if isinstance(batch_or_skipped, dict) else batch_or_skipped
        for entry in skipped:
            if entry not in self.entries:
                log.warning("skipped undecodable clip %s", entry)
                self.entries.append(entry)

    def __len__(self) -> int:
        return len(self.entries)

    def write(self, path: str | os.PathLike) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["path", "reason"])
        for entry in self.entries:
            writer.writerow(entry.split(": ", 1))
        atomic_write_text(path, buffer.getvalue())
