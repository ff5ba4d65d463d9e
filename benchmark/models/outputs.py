"""The typed result of every video model's forward pass (no tuples indexed by position)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch


@dataclass
class VideoModelOutput:
    """What ``model(clips)`` returns for clips of shape (N, C, T, H, W).

    Attributes:
        logits: (N, K) perception-branch logits: the model's prediction.
        attention_logits: (N, K) attention-branch logits (``abn``, ``stabn``), else None.
        spatial_attention: (N, T, h, w) spatial attention M_s in [0, 1], one map per frame, at feature
            resolution (h = H/16 for the paper's 224 -> 14); None for ``baseline``.
        temporal_attention: (N, T) temporal attention M_t in [0, 1], one weight per frame (``stabn`` only).
    """

    logits: torch.Tensor
    attention_logits: Optional[torch.Tensor] = None
    spatial_attention: Optional[torch.Tensor] = None
    temporal_attention: Optional[torch.Tensor] = None

    def heads(self) -> dict[str, torch.Tensor]:
        """Logits per head name: ``perception`` always, ``attention`` where the model has that branch."""
        out = {"perception": self.logits}
        if self.attention_logits is not None:
            out["attention"] = self.attention_logits
        return out
