"""The result every explanation method returns: one typed record, never a tuple."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch

TargetKind = Literal["predicted", "label"]


@dataclass
class Explanation:
    """One method's explanation of a batch of clips.

    Attributes:
        method: the registered method name.
        spatiotemporal: (N, T, H, W) float32 map on the CPU at input resolution; larger = more relevant.
        temporal: (N, T) float32 per-frame importance on the CPU (native for ST-ABN's temporal attention,
            otherwise the per-frame sum of ``spatiotemporal``).
        targets: (N,) int64 class index each map explains.
        target_kind: ``predicted`` (the model's top-1 class) or ``label`` (the true label).
        reduction: how the method's raw output was reduced over channels (see ``baselines.postprocess``).
        upsampling: how the reduced map was brought to (T, H, W) (see ``baselines.postprocess``).
        cost: the method's declared cost class: ``free``, ``one-backward`` or ``many-forwards``.
        seconds: wall time of the whole call (all chunks), device synchronised.
        options: the method options actually used (defaults filled in), for provenance.
        native_shape: (T', h, w) of the method's raw map before upsampling ((T, 1, 1) for a per-frame profile),
            for localisation scores at the method's own resolution and their ceilings.
    """

    method: str
    spatiotemporal: torch.Tensor
    temporal: torch.Tensor
    targets: torch.Tensor
    target_kind: TargetKind
    reduction: str
    upsampling: str
    cost: str
    seconds: float
    options: dict[str, Any] = field(default_factory=dict)
    native_shape: tuple[int, int, int] | None = None

    @property
    def num_clips(self) -> int:
        return int(self.spatiotemporal.shape[0])
