"""Checkpoints: atomic save, ``weights_only`` load, and the model they describe.

A checkpoint is a dict of plain data and tensors (loadable with ``torch.load(..., weights_only=True)``)::

    {"format": 1, "model": state_dict, "optimizer": state_dict | None, "meta": {...}, "rng": {...} | None}

``meta`` holds arch, num_classes, num_frames, depth, width, dropout, block_temporal, classes, epoch (epochs completed),
best_metric, best_epoch, best_loss (validation loss of best_epoch, the tie-break), history (one dict per epoch) and
config: the parts of the resolved RunConfig that rebuild and evaluate the model (:data:`CHECKPOINT_CONFIG_KEYS`: seed,
data, model, train), never the run's explanation, scoring or report settings. A checkpoint is data: nothing in it is
imported or executed.
"""
from __future__ import annotations

import io
import math
import random
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from ..errors import CheckpointError
from ..models import VideoAttentionNet, build_model
from ..runtime import atomic_write_bytes

FORMAT = 1
#: which checkpoint a benchmark run explains (``explain.checkpoint``): the final model or best.pt
EXPLAIN_CHECKPOINTS = ("last", "best")
#: columns of ``checkpoints.csv``, one row per explained model (see :func:`explained_checkpoint_row`)
EXPLAINED_COLUMNS = ["model", "checkpoint", "epoch", "epochs", "best_epoch", "best_val_top1", "path"]
#: meta keys that must agree between a checkpoint and the model asked for
ARCHITECTURE_KEYS = ("arch", "num_classes", "depth", "width", "num_frames", "block_temporal")


def improves(score: float, loss: float, best_score: float, best_loss: float) -> bool:
    """best.pt's rule: a higher validation top-1, or the same top-1 at a lower validation loss (with a few dozen
    validation clips top-1 ties are common, and the first epoch to reach a maximum is not the better model)."""
    return score > best_score or (score == best_score and loss < best_loss)


#: the config sections a checkpoint stores (and the only ones read back from one)
CHECKPOINT_CONFIG_KEYS = ("seed", "data", "model", "train")


def checkpoint_config(cfg: Any) -> dict[str, Any]:
    """The plain-data config a checkpoint stores: what rebuilds and evaluates the model (no explain/metrics/report)."""
    from ..config import to_dict

    tree = to_dict(cfg)
    return {key: tree[key] for key in CHECKPOINT_CONFIG_KEYS if key in tree}


def stored_config(meta: dict[str, Any]) -> dict[str, Any]:
    """The config tree stored in a checkpoint's ``meta``, reduced to :data:`CHECKPOINT_CONFIG_KEYS`.

    Older checkpoints stored the whole run config; their explain / metrics / report / path settings (e.g. a
    methods module) are dropped here, so that a checkpoint never makes a command import or write anything.
    """
    tree = meta.get("config") if isinstance(meta, dict) else None
    if not isinstance(tree, dict):
        return {}
    return {key: tree[key] for key in CHECKPOINT_CONFIG_KEYS if key in tree}


def check_classes(meta: dict[str, Any], classes: list[str], path: str | Path, where: str) -> None:
    """CheckpointError naming the first class where the checkpoint's class names differ from the data set's."""
    stored = meta.get("classes")
    if not isinstance(stored, list) or not stored:
        return  # a checkpoint without class names: only the count is checked (by the architecture)
    stored, classes = [str(c) for c in stored], [str(c) for c in classes]
    if stored == classes:
        return
    if len(stored) != len(classes):
        raise CheckpointError(f"checkpoint '{path}' was trained for {len(stored)} classes; {where} has {len(classes)}")
    i = next(i for i, (a, b) in enumerate(zip(stored, classes)) if a != b)
    raise CheckpointError(f"checkpoint '{path}' class {i} is '{stored[i]}' but {where} has '{classes[i]}' there: the "
                          "class names or their order differ, so its accuracy would be scored against the wrong labels")


def model_meta(model: VideoAttentionNet, dropout: float, classes: list[str]) -> dict[str, Any]:
    """The architecture part of ``meta``: enough to rebuild the model."""
    return {"arch": model.arch, "num_classes": model.num_classes, "num_frames": model.num_frames,
            "depth": model.depth, "width": model.width, "dropout": float(dropout), "classes": list(classes),
            "block_temporal": model.block_temporal}


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) RNG states as plain data and tensors."""
    np_state: Any = np.random.get_state()  # (name, keys, pos, has_gauss, cached_gaussian)
    state = {
        "python": random.getstate(),
        "numpy": {"name": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, model: nn.Module, meta: dict[str, Any],
                    optimizer: Optional[torch.optim.Optimizer] = None, rng: Optional[dict[str, Any]] = None) -> Path:
    """Write a checkpoint atomically (a killed run never leaves a half-written file under ``path``)."""
    payload = {"format": FORMAT, "model": model.state_dict(),
               "optimizer": optimizer.state_dict() if optimizer is not None else None, "meta": meta, "rng": rng}
    buffer = io.BytesIO()  # serialised in memory, then written by the one atomic writer (a full disk: one line)
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getbuffer())
    return Path(path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint's payload on the CPU (``weights_only=True``); CheckpointError if it is not one of ours."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' does not exist" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same user error
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"checkpoint '{path}' cannot be read: {first[:200]}") from None
    if (not isinstance(payload, dict) or payload.get("format") != FORMAT or not isinstance(payload.get("meta"), dict)
            or not isinstance(payload.get("model"), dict)):
        raise CheckpointError(f"checkpoint '{path}' is not a stabn-bench checkpoint (format {FORMAT})")
    return payload


def check_compatible(meta: dict[str, Any], expected: dict[str, Any], path: str | Path) -> None:
    """CheckpointError naming every architecture key where ``meta`` differs from ``expected``."""
    diffs = [f"{k}={meta.get(k)!r} (expected {expected[k]!r})" for k in ARCHITECTURE_KEYS
             if k in expected and meta.get(k) != expected[k]]
    if diffs:
        raise CheckpointError(f"checkpoint '{path}' does not fit the model asked for: " + ", ".join(diffs))


def load_state(model: nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """``model.load_state_dict(state)``, with a one-line CheckpointError naming the first mismatching keys."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if shapes:
            parts.append("shape mismatch: " + "; ".join(shapes[:3]))
        if missing:
            parts.append("missing: " + ", ".join(missing[:3]))
        if unexpected:
            parts.append("unexpected: " + ", ".join(unexpected[:3]))
        raise CheckpointError(f"checkpoint '{path}' weights do not fit {getattr(model, 'arch', 'the model')}: "
                              + " | ".join(parts))
    model.load_state_dict(state)


def load_model(path: str | Path, device: torch.device | str = "cpu",
               expected: Optional[dict[str, Any]] = None) -> tuple[VideoAttentionNet, dict[str, Any]]:
    """Rebuild the model a checkpoint describes and load its weights; returns (model in eval mode, meta).

    ``expected`` (e.g. ``{"arch": "stabn", "num_classes": 174}``) makes a mismatch a CheckpointError naming the key.
    """
    payload = read_checkpoint(path)
    meta = payload["meta"]
    if expected:
        check_compatible(meta, expected, path)
    try:
        model = build_model(meta["arch"], num_classes=meta["num_classes"], depth=meta["depth"], width=meta["width"],
                            dropout=meta.get("dropout", 0.5), num_frames=meta.get("num_frames"),
                            block_temporal=meta.get("block_temporal", "reference"))
    except (KeyError, ValueError, TypeError) as err:
        raise CheckpointError(f"checkpoint '{path}' describes no buildable model: {err}") from None
    load_state(model, payload["model"], path)
    return model.to(device).eval(), meta


def explained_checkpoint_row(model_name: str, path: str | Path, meta: dict[str, Any]) -> dict[str, Any]:
    """What the run explains for one model, a row of ``checkpoints.csv``: which file (``last`` / ``best``), the
    epoch it holds, the planned epochs, and the epoch with the best validation top-1 (ties: lower loss)."""
    config = meta.get("config") or {}
    epochs = (config.get("train") or {}).get("epochs", meta.get("epoch"))
    best = meta.get("best_metric")
    return {"model": model_name, "checkpoint": Path(path).stem, "epoch": int(meta.get("epoch", 0)),
            "epochs": epochs, "best_epoch": meta.get("best_epoch"),
            "best_val_top1": None if best is None or not math.isfinite(best) else float(best), "path": str(path)}
