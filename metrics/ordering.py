"""Orderings of an attribution map: which input cells a perturbation curve changes first.

An ordering is a *rank* per cell (0 = changed first), computed once per clip. The perturbation engine turns
ranks into step masks by thresholding (``rank < n_changed``), so no step ever re-sorts anything.

Granularities (``T, H, W`` = clip length and frame size):

- ``voxel``: every (t, h, w) position is a cell;
- ``tube``: a grid of ``t x h x w`` cells (``tube_size``); a cell's relevance is the map's mean inside it
  (cells at the border are smaller when the size does not divide the clip);
- ``frame``: whole frames; a frame's relevance is the map's mean over (H, W).

**Ties** (equal relevance, e.g. flat maps or a constant control method) are broken by a random order drawn
from a ``torch.Generator`` seeded by the caller: the same seed always gives the same ranks, and tied cells
are never ordered by their position (which would favour one corner of the clip).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional, Sequence

import torch
import torch.nn.functional as F

from stabn_bench.benchmark.errors import DataError

Granularity = Literal["voxel", "tube", "frame"]
GRANULARITIES: tuple[str, ...] = ("voxel", "tube", "frame")
Order = Literal["morf", "lerf", "random"]
ORDERS: tuple[str, ...] = ("morf", "lerf", "random")


@dataclass
class CellRanks:
    """Ranks of the cells of N clips, stored at voxel level so that a step mask is one comparison.

    Attributes:
        ranks: (N, T, H, W) int32 rank of the cell each voxel belongs to (0 = changed first), or
            (N, T, 1, 1) for frame granularity (broadcast over H, W).
        num_cells: number of cells per clip (the largest rank + 1).
        voxels_per_rank: (N, num_cells) int64 number of voxels in the cell of each rank (for the
            fraction of the clip actually changed after ``k`` cells).
    """

    ranks: torch.Tensor
    num_cells: int
    voxels_per_rank: torch.Tensor

    def select(self, index: torch.Tensor) -> "CellRanks":
        """The ranks of the clips ``index`` (a 1-D index or boolean tensor)."""
        return CellRanks(self.ranks[index], self.num_cells, self.voxels_per_rank[index])


def check_finite(maps: torch.Tensor, method: str = "explanation", clip_ids: Optional[Sequence[str]] = None) -> None:
    """Raise :class:`DataError` naming the method and the first clip whose map holds NaN or inf.

    Args:
        maps: (N, ...) attribution maps (spatio-temporal or per-frame).
    """
    bad = ~torch.isfinite(maps.reshape(maps.shape[0], -1)).all(dim=1)
    if bool(bad.any()):
        index = int(bad.nonzero()[0, 0])
        clip = clip_ids[index] if clip_ids is not None else f"#{index} of the batch"
        n_bad = int(bad.sum())
        raise DataError(
            f"method '{method}' returned a map with NaN or inf for clip {clip}"
            + (f" (and {n_bad - 1} more clips)" if n_bad > 1 else "")
            + "; an explanation must be finite everywhere"
        )


def cell_relevance(maps: torch.Tensor, granularity: Granularity, tube_size: Sequence[int] = (2, 8, 8)) -> torch.Tensor:
    """Pool a map to the cells of a granularity.

    Args:
        maps: (N, T, H, W) spatio-temporal maps.
    Returns:
        (N, T, H, W) for voxel, (N, ceil(T/t), ceil(H/h), ceil(W/w)) for tube, (N, T) for frame.
    """
    if maps.dim() != 4:
        raise ValueError(f"maps must have shape (N, T, H, W), got {tuple(maps.shape)}")
    maps = maps.float()
    if granularity == "voxel":
        return maps
    if granularity == "frame":
        return maps.mean(dim=(2, 3))
    if granularity == "tube":
        kernel = _tube_kernel(maps.shape[1:], tube_size)
        # ceil_mode keeps the partial cells at the border; padding=0 so they average their own voxels only
        return F.avg_pool3d(maps.unsqueeze(1), kernel, stride=kernel, ceil_mode=True).squeeze(1)
    raise ValueError(f"unknown granularity {granularity!r}; valid: {', '.join(GRANULARITIES)}")


def rank_scores(scores: torch.Tensor, order: Order, generator: torch.Generator) -> torch.Tensor:
    """Rank cells per clip: 0 for the cell changed first.

    ``morf`` = most relevant first, ``lerf`` = least relevant first, ``random`` = a random permutation
    (``scores`` then only give the shape). Ties are broken by a random order drawn from ``generator``.

    Args:
        scores: (N, M) relevance per cell.
    Returns:
        (N, M) int64 ranks, a permutation of 0..M-1 per clip.
    """
    n, m = scores.shape
    tie_break = torch.rand(n, m, generator=generator).argsort(dim=1).to(scores.device)
    if order == "random":
        order_index = tie_break
    elif order in ("morf", "lerf"):
        shuffled = scores.gather(1, tie_break)
        # a stable sort of the randomly permuted cells: equal scores keep the random order
        sorted_pos = shuffled.argsort(dim=1, descending=(order == "morf"), stable=True)
        order_index = tie_break.gather(1, sorted_pos)
    else:
        raise ValueError(f"unknown order {order!r}; valid: {', '.join(ORDERS)}")
    ranks = torch.empty_like(order_index)
    ranks.scatter_(1, order_index, torch.arange(m, device=scores.device).expand(n, m))
    return ranks


def map_ranks(
    maps: torch.Tensor,
    granularity: Granularity,
    order: Order,
    generator: torch.Generator,
    tube_size: Sequence[int] = (2, 8, 8),
) -> CellRanks:
    """Ranks of the cells of spatio-temporal maps, expanded to voxels.

    Args:
        maps: (N, T, H, W) attribution maps (must be finite: see :func:`check_finite`).
    """
    n, t, h, w = maps.shape
    cells = cell_relevance(maps, granularity, tube_size)
    ranks = rank_scores(cells.reshape(n, -1), order, generator).reshape(cells.shape)
    if granularity == "voxel":
        voxel_ranks = ranks
    elif granularity == "frame":
        voxel_ranks = ranks.view(n, t, 1, 1)
    else:
        kt, kh, kw = _tube_kernel((t, h, w), tube_size)
        voxel_ranks = (
            ranks.repeat_interleave(kt, 1).repeat_interleave(kh, 2).repeat_interleave(kw, 3)[:, :t, :h, :w]
        )
    return _cell_ranks(voxel_ranks.contiguous(), (t, h, w))


def frame_ranks(temporal: torch.Tensor, order: Order, generator: torch.Generator) -> CellRanks:
    """Ranks of whole frames from a per-frame importance.

    Args:
        temporal: (N, T) per-frame importance.
    Returns:
        ranks of shape (N, T, 1, 1).
    """
    if temporal.dim() != 2:
        raise ValueError(f"temporal importance must have shape (N, T), got {tuple(temporal.shape)}")
    n, t = temporal.shape
    ranks = rank_scores(temporal.float(), order, generator)
    return _cell_ranks(ranks.view(n, t, 1, 1), (t, 1, 1))


def _cell_ranks(voxel_ranks: torch.Tensor, shape: tuple[int, int, int]) -> CellRanks:
    n = voxel_ranks.shape[0]
    num_cells = int(voxel_ranks.reshape(n, -1).max()) + 1 if voxel_ranks.numel() else 0
    full = voxel_ranks.expand(n, *shape).reshape(n, -1)
    counts = torch.zeros(n, num_cells, dtype=torch.int64, device=voxel_ranks.device)
    counts.scatter_add_(1, full.long(), torch.ones_like(full, dtype=torch.int64))
    return CellRanks(voxel_ranks.to(torch.int32), num_cells, counts)


def _tube_kernel(shape: Sequence[int], tube_size: Sequence[int]) -> tuple[int, int, int]:
    if len(tube_size) != 3 or any(int(s) < 1 for s in tube_size):
        raise ValueError(f"tube_size must be three positive integers (t, h, w), got {list(tube_size)}")
    return tuple(min(int(s), int(d)) for s, d in zip(tube_size, shape))  # type: ignore[return-value]
