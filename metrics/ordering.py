"""Orderings of an attribution map: which input cells a perturbation curve changes first.

An ordering is a *rank* per cell (0 = changed first), computed once per clip. The perturbation engine turns
ranks into step masks by thresholding (``rank < n_changed``), so no step ever re-sorts anything.

Granularities (``T, H, W`` = clip length and frame size):

- ``voxel``: every (t, h, w) position is a cell;
- ``tube``: a grid of ``t x h x w`` cells (``tube_size``); a cell's relevance is the map's mean inside it
  (cells at the border are smaller when the size does not divide the clip);
- ``frame``: whole frames; a frame's relevance is the map's mean over (H, W).

**Ties** (equal relevance, e.g. flat maps, a constant control method, or the flat blocks of an upsampled
coarse map) are broken by a random order drawn from a ``torch.Generator`` seeded by the caller: the same seed
always gives the same ranks, and tied cells are never ordered by their position (which would favour one corner
of the clip). The ranks also record where each *tie group* (cells of equal relevance) begins, so that a curve
can either change whole tie groups at once (:meth:`CellRanks.snap_to_tie_groups`, the map curves: no score depends
on the seed, but a group is crossed by a straight line, as if each of its cells mattered alike) or cross a group
one cell per step under several random orders of the group (:meth:`CellRanks.reorder_ties`, the frame tests: the
mean estimates the expected curve under a random tie-break, which stays right when the cells only matter together).
Ties are detected with a tolerance relative to the clip's largest absolute relevance (:data:`TIE_RTOL`), not by
exact float equality, so the ranks (and every AUC) are the same for a map and the map times any positive factor,
and for a symmetric map and its mirror image.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional, Sequence

import torch
import torch.nn.functional as F

from stabn_bench.core import DataError

Granularity = Literal["voxel", "tube", "frame"]
GRANULARITIES: tuple[str, ...] = ("voxel", "tube", "frame")
Order = Literal["morf", "lerf", "random"]
ORDERS: tuple[str, ...] = ("morf", "lerf", "random")
#: Two neighbouring cells in relevance order are tied when they differ by at most this share of the clip's
#: largest absolute relevance (float32 cell means carry a relative rounding error near 1e-7).
TIE_RTOL = 1e-5


@dataclass
class CellRanks:
    """Ranks of the cells of N clips, stored at voxel level so that a step mask is one comparison.

    Attributes:
        ranks: (N, T, H, W) int32 rank of the cell each voxel belongs to (0 = changed first), or
            (N, T, 1, 1) for frame granularity (broadcast over H, W).
        num_cells: number of cells per clip (the largest rank + 1).
        voxels_per_rank: (N, num_cells) int64 number of voxels in the cell of each rank (for the
            fraction of the clip actually changed after ``k`` cells).
        tie_boundaries: (N, num_cells + 1) bool, True at ``k`` when the cells of rank < k form whole tie groups
            (always at 0 and num_cells); None when no two cells are tied (e.g. a random order).
    """

    ranks: torch.Tensor
    num_cells: int
    voxels_per_rank: torch.Tensor
    tie_boundaries: Optional[torch.Tensor] = None

    def select(self, index: torch.Tensor) -> "CellRanks":
        """The ranks of the clips ``index`` (a 1-D index or boolean tensor)."""
        boundaries = None if self.tie_boundaries is None else self.tie_boundaries[index]
        return CellRanks(self.ranks[index], self.num_cells, self.voxels_per_rank[index], boundaries)

    @property
    def has_ties(self) -> bool:
        """Whether some clip has a tie group of more than one cell."""
        return self.tie_boundaries is not None and not bool(self.tie_boundaries.all())

    def reorder_ties(self, generator: torch.Generator) -> "CellRanks":
        """The same ranking with the cells of every tie group in a new random order drawn from ``generator``
        (the groups, their order and the boundaries stay); ``self`` when nothing is tied."""
        if not self.has_ties:
            return self
        assert self.tie_boundaries is not None
        n, m = self.voxels_per_rank.shape
        group = self.tie_boundaries[:, :m].long().cumsum(dim=1)  # (N, M) tie group of each rank, increasing
        shuffle = torch.rand(n, m, generator=generator).argsort(dim=1)  # a random permutation of 0..M-1 per clip
        old_at_new = (group * m + shuffle).argsort(dim=1)  # new rank r holds the cells of old rank old_at_new[r]
        new_of_old = torch.empty_like(old_at_new)
        new_of_old.scatter_(1, old_at_new, torch.arange(m).expand(n, m))
        flat = self.ranks.reshape(n, -1).long()
        ranks = new_of_old.to(flat.device).gather(1, flat).to(torch.int32).view_as(self.ranks)
        voxels = self.voxels_per_rank.gather(1, old_at_new.to(self.voxels_per_rank.device))
        return CellRanks(ranks, self.num_cells, voxels, self.tie_boundaries)

    def snap_to_tie_groups(self, changed: torch.Tensor) -> torch.Tensor:
        """Move each count of changed cells to the nearest tie-group boundary (the lower one when both are
        equally near), so that no step changes part of a tie group.

        Args:
            changed: (S,) int64 counts in [0, num_cells].
        Returns:
            (N, S) int64 counts per clip.
        """
        n = self.voxels_per_rank.shape[0]
        changed = changed.long().cpu().expand(n, -1)
        if self.tie_boundaries is None:
            return changed.clone()
        boundaries = self.tie_boundaries.cpu()
        position = torch.arange(self.num_cells + 1).expand_as(boundaries)
        below = torch.where(boundaries, position, torch.full_like(position, -1)).cummax(dim=1).values
        above = torch.where(boundaries, position, torch.full_like(position, self.num_cells + 1))
        above = above.flip(1).cummin(dim=1).values.flip(1)
        lower, upper = below.gather(1, changed), above.gather(1, changed)
        return torch.where(changed - lower <= upper - changed, lower, upper)


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
    return rank_scores_with_ties(scores, order, generator)[0]


def rank_scores_with_ties(scores: torch.Tensor, order: Order, generator: torch.Generator) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """:func:`rank_scores` plus the tie-group boundaries of the ranking.

    Returns:
        ranks (N, M) int64, and boundaries (N, M + 1) bool: True at k when the cells of rank < k form whole
        groups of equal score (None for the ``random`` order, which has no ties).
    """
    n, m = scores.shape
    tie_break = torch.rand(n, m, generator=generator).argsort(dim=1).to(scores.device)
    if order == "random":
        order_index = tie_break
    elif order in ("morf", "lerf"):
        shuffled = scores.gather(1, tie_break)
        sorted_pos = shuffled.argsort(dim=1, descending=(order == "morf"), stable=True)
        ordered = shuffled.gather(1, sorted_pos)
        # a new tie group starts where neighbours differ by more than the tolerance (relative to the clip's scale),
        # so float rounding (e.g. of a map scaled by 1.7, or mirrored) never splits or merges a group
        tolerance = TIE_RTOL * ordered.abs().amax(dim=1, keepdim=True)
        edge = torch.ones(n, 1, dtype=torch.bool, device=scores.device)
        starts = (ordered[:, 1:] - ordered[:, :-1]).abs() > tolerance
        boundaries = torch.cat([edge, starts, edge], dim=1)
        # inside a group, the random order alone decides (never the rounding of the scores): sort by
        # (group, position in the random permutation)
        group = torch.cat([torch.zeros(n, 1, dtype=torch.int64, device=scores.device), starts.long().cumsum(dim=1)], dim=1)
        sorted_pos = sorted_pos.gather(1, (group * m + sorted_pos).argsort(dim=1))
        order_index = tie_break.gather(1, sorted_pos)
    else:
        raise ValueError(f"unknown order {order!r}; valid: {', '.join(ORDERS)}")
    ranks = torch.empty_like(order_index)
    ranks.scatter_(1, order_index, torch.arange(m, device=scores.device).expand(n, m))
    return ranks, (boundaries if order != "random" else None)


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
    ranks, boundaries = rank_scores_with_ties(cells.reshape(n, -1), order, generator)
    ranks = ranks.reshape(cells.shape)
    if granularity == "voxel":
        voxel_ranks = ranks
    elif granularity == "frame":
        voxel_ranks = ranks.view(n, t, 1, 1)
    else:
        kt, kh, kw = _tube_kernel((t, h, w), tube_size)
        voxel_ranks = (
            ranks.repeat_interleave(kt, 1).repeat_interleave(kh, 2).repeat_interleave(kw, 3)[:, :t, :h, :w]
        )
    return _cell_ranks(voxel_ranks.contiguous(), (t, h, w), boundaries)


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
    ranks, boundaries = rank_scores_with_ties(temporal.float(), order, generator)
    return _cell_ranks(ranks.view(n, t, 1, 1), (t, 1, 1), boundaries)


def _cell_ranks(voxel_ranks: torch.Tensor, shape: tuple[int, int, int], boundaries: Optional[torch.Tensor] = None) -> CellRanks:
    n = voxel_ranks.shape[0]
    num_cells = int(voxel_ranks.reshape(n, -1).max()) + 1 if voxel_ranks.numel() else 0
    full = voxel_ranks.expand(n, *shape).reshape(n, -1)
    counts = torch.zeros(n, num_cells, dtype=torch.int64, device=voxel_ranks.device)
    counts.scatter_add_(1, full.long(), torch.ones_like(full, dtype=torch.int64))
    return CellRanks(voxel_ranks.to(torch.int32), num_cells, counts, None if boundaries is None else boundaries.cpu())


def _tube_kernel(shape: Sequence[int], tube_size: Sequence[int]) -> tuple[int, int, int]:
    if len(tube_size) != 3 or any(int(s) < 1 for s in tube_size):
        raise ValueError(f"tube_size must be three positive integers (t, h, w), got {list(tube_size)}")
    return tuple(min(int(s), int(d)) for s, d in zip(tube_size, shape))  # type: ignore[return-value]
