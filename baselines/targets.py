"""Which class each explanation explains: the model's prediction (default) or the true label."""
from __future__ import annotations

import torch
from torch import nn

from stabn_bench.core import StabnBenchError

from .explanation import TargetKind
from .forward import eval_mode, model_device

TARGET_KINDS = ("predicted", "label")


@torch.no_grad()
def predicted_classes(model: nn.Module, clips: torch.Tensor) -> torch.Tensor:
    """(N, C, T, H, W) -> (N,) int64 top-1 class of the perception head, from one forward pass in eval mode."""
    with eval_mode(model):
        logits = model(clips.to(model_device(model))).logits
    return logits.argmax(dim=1).cpu()


def resolve_targets(model: nn.Module, clips: torch.Tensor, labels: torch.Tensor | None,
                    target_kind: TargetKind = "predicted") -> torch.Tensor:
    """The (N,) int64 classes to explain.

    Args:
        model: a video model (``model(clips).logits`` is (N, K)).
        clips: (N, C, T, H, W).
        labels: (N,) true labels, needed for ``target_kind="label"``.
        target_kind: ``predicted`` (one forward pass, no gradient) or ``label``.
    """
    if target_kind == "predicted":
        return predicted_classes(model, clips)
    if target_kind == "label":
        if labels is None:
            raise StabnBenchError("target kind 'label' needs the clips' labels; none were given")
        labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1).cpu()
        if labels.numel() != clips.shape[0]:
            raise StabnBenchError(f"got {labels.numel()} labels for {clips.shape[0]} clips")
        return labels
    raise StabnBenchError(f"unknown target kind {target_kind!r}; valid: {', '.join(TARGET_KINDS)}")
