"""Top-1 / top-5 accuracy of every head of a model, reduced over DDP ranks, and ``accuracy.csv`` (docs/design.md section 6)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .. import distributed
from ..runtime import atomic_path, autocast

ACCURACY_COLUMNS = ["model", "head", "top1", "top5", "n_clips"]


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> torch.Tensor:
    """Number of clips whose label is among the top-k logits, per k: logits (N, K), labels (N,) -> (len(ks),).

    k is capped at K (with fewer than 5 classes, top-5 is 1.0)."""
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices                     # (N, kmax)
    hits = top.eq(labels[:, None])                             # (N, kmax)
    return torch.stack([hits[:, : min(k, kmax)].any(dim=1).sum() for k in ks]).to(torch.float64)


def move_clips(clips: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    clips = clips.to(device, non_blocking=True)
    if channels_last and device.type == "cuda":
        clips = clips.contiguous(memory_format=torch.channels_last_3d)
    return clips


@torch.no_grad()
def evaluate_model(model: nn.Module, loader: Iterable[dict[str, Any]], device: torch.device | str, reverse: bool = False,
                   amp: bool = True, channels_last: bool = True, progress: bool = False,
                   reversal_labels: Sequence[int] | None = None) -> dict[str, dict[str, float]]:
    """Top-1 / top-5 and mean cross-entropy of each head over the loader's clips (summed over DDP ranks).

    Args:
        model: a video model returning VideoModelOutput; put in eval mode here.
        loader: batches {"clip": (N, C, T, H, W), "label": (N,)}; under DDP each rank sees its own shard.
        reverse: score time-reversed clips (frames in reverse order) against their original labels.
        reversal_labels: with ``reverse``, score against ``reversal_labels[label]`` instead (a task whose label
            is the direction of time, e.g. arrow-of-time: forward <-> reversed); clips mapped to -1 are left out.
    Returns:
        {head: {"top1": float, "top5": float, "loss": float, "n_clips": int}} with heads ``perception`` and, where
        present, ``attention``.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    count = torch.zeros((), dtype=torch.float64, device=device)
    for batch in tqdm(loader, desc="evaluate", leave=False, disable=not progress or not distributed.is_main()):
        if batch["label"].numel() == 0:
            continue  # no clip of this batch could be decoded (listed in batch["skipped"])
        clips = move_clips(batch["clip"], device, channels_last)
        labels = batch["label"].to(device)
        if reverse:
            clips = clips.flip(2)
            if reversal_labels is not None:
                labels = torch.as_tensor(list(reversal_labels), device=device)[labels]
                keep = labels >= 0
                if not bool(keep.all()):
                    clips, labels = clips[keep], labels[keep]
                if labels.numel() == 0:
                    continue
        with autocast(device, amp):
            out = model(clips)
        for head, logits in out.heads().items():
            loss = F.cross_entropy(logits.float(), labels, reduction="sum").to(torch.float64).reshape(1)
            sums[head] = sums.get(head, 0) + torch.cat([topk_correct(logits.float(), labels), loss])
        count += labels.numel()
    model.train(was_training)
    heads = list(getattr(model, "head_names", None) or sums)  # fixed order, the same on every rank
    packed = torch.cat([count[None]] + [torch.as_tensor(sums.get(h, torch.zeros(3, dtype=torch.float64)),
                                                         device=device).reshape(3) for h in heads])
    packed = distributed.all_reduce_sum(packed).cpu()
    n = int(packed[0].item())
    return {h: {"top1": packed[1 + 3 * i].item() / max(n, 1), "top5": packed[2 + 3 * i].item() / max(n, 1),
                "loss": packed[3 + 3 * i].item() / max(n, 1), "n_clips": n} for i, h in enumerate(heads)}


def accuracy_rows(model_name: str, accuracy: Mapping[str, Mapping[str, float]]) -> list[dict]:
    """One row per head, in the columns of ``accuracy.csv``."""
    return [{"model": model_name, "head": head, "top1": m["top1"], "top5": m["top5"], "n_clips": int(m["n_clips"])}
            for head, m in accuracy.items()]


def write_accuracy_csv(rows: Iterable[Mapping], path: str | Path) -> Path:
    """Write ``model,head,top1,top5,n_clips`` (top-k as fractions in [0, 1]) atomically."""
    table = pd.DataFrame(list(rows), columns=ACCURACY_COLUMNS)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return Path(path)
