"""The attention-alignment stage: how well each trained model's own attention matches the ground truth.

For every model with a spatial attention (``abn``, ``stabn``) and every training seed, the test clips go through
the model once; the per-clip Spearman correlations of M_s with the evidence mask and of M_t with the action window
(:mod:`stabn_bench.metrics.alignment`, at the attention's native resolution) are summarised into one row per model,
seed and attention of ``attention_alignment.csv``.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch

from stabn_bench.metrics.alignment import spatial_alignment, temporal_alignment

from .. import distributed
from ..report.seeds import ALIGNMENT_COLUMNS, alignment_rows

#: (attention, reference) pairs written per model: the spatial map against the evidence, the temporal weights
#: against the action window
PAIRS = (("spatial", "evidence"), ("temporal", "window"))


@torch.no_grad()
def attention_correlations(model: torch.nn.Module, loader, device: torch.device) -> dict[str, np.ndarray]:
    """Per-clip Spearman correlations of a model's attention over the loader's clips (this rank's share).

    Returns ``{"spatial": (n,), "temporal": (n,)}`` (a key only where the model has that attention and the data
    has that ground truth).
    """
    model = model.to(device).eval()
    out: dict[str, list[np.ndarray]] = {}
    for batch in loader:
        if batch["label"].numel() == 0:
            continue
        result = model(batch["clip"].to(device))
        if result.spatial_attention is not None and "evidence" in batch:
            out.setdefault("spatial", []).append(spatial_alignment(result.spatial_attention.float().cpu(), batch["evidence"]))
        if result.temporal_attention is not None and "window" in batch:
            out.setdefault("temporal", []).append(temporal_alignment(result.temporal_attention.float().cpu(),
                                                                     batch["window"].float()))
    return {key: np.concatenate(parts) for key, parts in out.items()}


def alignment_table(models: Mapping[tuple[int, str], torch.nn.Module], test_set, batch_size: int, num_workers: int,
                    device: torch.device) -> pd.DataFrame:
    """Rows of ``attention_alignment.csv`` for every (seed, model name) with an attention; gathered over ranks."""
    from ..data import collate_clips

    sampler = distributed.ShardSampler(len(test_set)) if distributed.is_distributed() else None
    loader = torch.utils.data.DataLoader(test_set, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                                         collate_fn=collate_clips)
    rows = []
    for (seed, name), model in sorted(models.items()):
        if getattr(model, "arch", name) == "baseline":
            continue
        values = attention_correlations(model, loader, device)
        for attention, reference in PAIRS:
            if attention in values:
                rows.append(alignment_rows(name, attention, reference, seed, _gather(values[attention])))
    return pd.DataFrame(rows, columns=ALIGNMENT_COLUMNS)


def _gather(values: np.ndarray) -> np.ndarray:
    """Every rank's per-clip values, concatenated (this rank's own values when not distributed)."""
    if not distributed.is_distributed():
        return values
    parts: list[Any] = [None] * distributed.world_size()
    torch.distributed.all_gather_object(parts, values)
    return np.concatenate(parts)
