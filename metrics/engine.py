"""The perturbation engine: target-class probabilities of many perturbed clips, in batched forward passes.

Every curve and masking test of the benchmark goes through :class:`PerturbationEngine`. It needs only a
forward function ``(N, C, T, H, W) -> logits (N, K)`` (or a :class:`VideoModelOutput`), never a model class.

How it is fast:

- the ordering is computed once per clip (:mod:`stabn_bench.metrics.ordering`); a step's mask is ``rank < n_changed``;
- the (clip, step) pairs of all clips are packed into batches and every batch is built on the device with one
  gather and one ``torch.where`` (no Python loop over steps or pixels);
- a perturbed clip is evaluated once: the engine remembers the probability of every (clip, kept voxels,
  substrate) it has scored on the current clips, so curves that meet the same input (the LeRF deletion and the
  insertion curve of one map, the frame curves of methods that rank frames alike, tie-break re-scorings of a map
  without ties, the oracle and its inverse) share the forward pass. A value never depends on what else was
  evaluated: the model's outputs do not depend on the batch's other inputs or size (batches of one are padded
  to two, the only size whose kernels differ on CPUs);
- on a CPU, inputs are handed to the model in the ``channels_last_3d`` memory format (convolutions run about
  1.6x faster there; :func:`channels_last_model` converts a model's weights once);
- forward passes run under ``torch.inference_mode`` and bf16 autocast on CUDA;
- the batch size comes from a memory budget: the activation memory of one clip is measured once per input
  shape with :class:`~metrics.memory.LiveTensorMemory`; on CUDA an out-of-memory error halves the batch and
  the batch is retried.

Results do not depend on the batch size (up to the floating-point effects of the backend's kernels).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Callable, Literal, NamedTuple, Optional, Union

import torch

from stabn_bench.core import VideoModelOutput
from stabn_bench.core import autocast as autocast_context

from .auc import trapezoid_auc
from .costs import CostLedger
from .memory import LiveTensorMemory
from .ordering import CellRanks
from .substrates import FIXED_SUBSTRATES, SUBSTRATES, fixed_substrate, freeze_removed_frames, noisy_linear_imputation

log = logging.getLogger("stabn_bench.metrics")

ForwardFn = Callable[[torch.Tensor], Union[torch.Tensor, VideoModelOutput]]
Mode = Literal["deletion", "insertion"]
MODES: tuple[str, ...] = ("deletion", "insertion")

_MB = 1024 * 1024


class Curves(NamedTuple):
    """Perturbation curves of N clips (a named pair: ``fractions, scores = curves`` works too).

    Attributes:
        fractions: (N, S) float64 fraction of the clip actually changed at each step (0 first, 1 last).
        scores: (N, S) float32 target-class softmax probability at each step.
    """

    fractions: torch.Tensor
    scores: torch.Tensor

    def auc(self) -> torch.Tensor:
        """(N,) trapezoid AUC over the fraction changed."""
        return trapezoid_auc(self.fractions, self.scores)


@dataclass
class Endpoints:
    """Probabilities at the two ends every curve of one substrate shares (computed once, reused).

    Attributes:
        clean: (N,) target probability of the unperturbed clips.
        substituted: (N,) target probability of the clips entirely replaced by the substrate.
        substrate: the substrate's name.
    """

    clean: torch.Tensor
    substituted: torch.Tensor
    substrate: str


@dataclass
class Predictions:
    """Target probability (N,) and predicted class (N,) of a set of inputs."""

    probability: torch.Tensor
    predicted: torch.Tensor


class PerturbationEngine:
    """Batched scoring of perturbed clips through one forward function.

    Args:
        forward_fn: ``(B, C, T, H, W) -> (B, K)`` logits or a :class:`VideoModelOutput`; must be deterministic
            (a model in ``eval()`` mode).
        device: where the forward passes run; default: the device of the first parameter of ``forward_fn``
            when it is an ``nn.Module``, else the clips' device.
        memory_budget_mb: tensor memory the engine may use for the clips it holds and the batches it runs
            (activations included; the model's parameters are not counted).
        batch_size: fixed batch size (overrides the budget), mostly for tests.
        max_batch_size: upper bound on the budget-derived batch size. On CPUs, where large batches are often
            slower per clip than small ones, the engine also times its first batches at a few sizes within this
            bound (:class:`BatchSizeTuner`; the work is kept) and goes on with the fastest.
        use_autocast: bf16 autocast on CUDA.
        blur_sigma: sigma in pixels of the ``blur`` substrate.
        road_noise: standard deviation of the noise the ``road`` substrate adds to imputed voxels (in the
            clips' normalised units); the noise of a clip is the same at every step (seeded by its index).
    """

    #: fixed substrates kept (one per clip batch and substrate name)
    SUBSTRATE_CACHE_SIZE = 2

    def __init__(
        self,
        forward_fn: ForwardFn,
        device: Optional[torch.device] = None,
        memory_budget_mb: float = 2048,
        batch_size: Optional[int] = None,
        max_batch_size: int = 256,
        use_autocast: bool = True,
        blur_sigma: float = 5.0,
        road_noise: float = 0.05,
    ) -> None:
        if getattr(forward_fn, "training", False):
            raise ValueError("the model given to the perturbation engine is in training mode; call model.eval() first")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.forward_fn = forward_fn
        self.device = device if device is not None else _module_device(forward_fn)
        self.memory_budget_mb = float(memory_budget_mb)
        self.fixed_batch_size = batch_size
        self.max_batch_size = max(1, int(max_batch_size))
        self.use_autocast = use_autocast
        self.blur_sigma = blur_sigma
        self.road_noise = road_noise
        self._activation_bytes: dict[tuple, tuple[float, float]] = {}
        self._oom_cap: Optional[int] = None
        self._tuners: dict[tuple, BatchSizeTuner] = {}
        self._substrate_cache: list[tuple] = []
        #: (clips tensor, its version) the memo holds inputs of, and (substrate, clip, target, kept mask) -> (p, class)
        self._memo_clips: Optional[tuple[torch.Tensor, int]] = None
        self._memo: dict[tuple, tuple[float, int]] = {}
        #: forward passes (inputs) run so far, for reports and tests
        self.inputs_evaluated = 0
        #: perturbed inputs asked for and answered from the memo without a forward pass
        self.inputs_reused = 0
        #: seconds spent building and running the batches of those forward passes
        self.forward_seconds = 0.0
        #: seconds and forward passes per named part of the work (:mod:`stabn_bench.metrics.costs`)
        self.costs = CostLedger(self)

    # ------------------------------------------------------------------ public API

    def predict(self, clips: torch.Tensor, targets: torch.Tensor) -> Predictions:
        """Target probability and prediction of unperturbed clips (N, C, T, H, W)."""
        clips = clips.to(self._device_for(clips))
        targets = targets.to(clips.device)
        n = clips.shape[0]

        def build(index: torch.Tensor) -> torch.Tensor:
            return clips[index]

        return self._evaluate(n, build, targets, clips.shape[1:], resident_bytes=_nbytes(clips))

    def endpoints(self, clips: torch.Tensor, targets: torch.Tensor, substrate: str) -> Endpoints:
        """Probabilities of the clean clips and of the clips fully replaced by ``substrate``."""
        _check_substrate(substrate)
        clips = clips.to(self._device_for(clips))
        if substrate == "road":
            nothing_kept = torch.zeros(clips.shape[0], *clips.shape[2:], dtype=torch.bool, device=clips.device)
            base = noisy_linear_imputation(clips, nothing_kept, self._road_noise_fields(clips))
        else:
            base = self._substrate(clips, "mean_frame" if substrate == "frozen" else substrate)
        both = torch.cat([clips, base])
        preds = self.predict(both, torch.cat([targets, targets]))
        n = clips.shape[0]
        return Endpoints(preds.probability[:n], preds.probability[n:], substrate)

    def curves(
        self,
        clips: torch.Tensor,
        ranks: CellRanks,
        targets: torch.Tensor,
        mode: Mode,
        substrate: str,
        steps: int,
        endpoints: Optional[Endpoints] = None,
        snap_ties: bool = True,
    ) -> Curves:
        """Deletion or insertion curves.

        Step k of ``S = min(steps, num_cells)`` changes the ``round(k * num_cells / S)`` cells of lowest rank.
        With ``snap_ties`` that count moves to the nearest end of the tie group it falls in (cells of equal
        relevance are changed together, never split), so that the curve, and its AUC, do not depend on the
        tie-break order: a tie group spanning several steps is crossed by one straight segment, as a ROC curve
        crosses tied scores. Without it, tie groups are crossed in the order of ``ranks`` (average several orders
        from :meth:`CellRanks.reorder_ties` for the expected curve, as the frame tests do).
        Deletion replaces the changed cells by the substrate in the clip, insertion puts them back into the
        substrate. Steps that fall on the same count are evaluated once.

        Args:
            clips: (N, C, T, H, W).
            ranks: cell ranks of the N clips (:mod:`stabn_bench.metrics.ordering`).
            targets: (N,) class whose probability is scored.
            mode: ``deletion`` or ``insertion``.
            substrate: one of ``road`` (a run's default: 3-D noisy linear imputation), ``zero``, ``mean``, ``blur``,
                ``mean_frame``, ``frozen`` (frame ranks only).
            steps: number of steps (the curve has ``S + 1`` points).
            endpoints: probabilities of the clean and fully substituted clips (from :meth:`endpoints`, same
                clips, targets and substrate); when given, those two points are not recomputed.
            snap_ties: change whole tie groups only (True) or follow ``ranks`` one count at a time (False).
        Returns:
            curves with (N, S + 1) fractions and scores.
        """
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        n = clips.shape[0]
        num_steps = min(steps, ranks.num_cells)
        counts = _cells_changed(ranks.num_cells, num_steps)
        changed = ranks.snap_to_tie_groups(counts) if snap_ties else counts.expand(n, -1).clone()  # (N, S+1)
        fractions = _fractions_changed(ranks.voxels_per_rank, changed)  # (N, S+1)
        scores = torch.full((n, num_steps + 1), math.nan, dtype=torch.float32)
        todo = torch.ones(n, num_steps + 1, dtype=torch.bool)
        if endpoints is not None:
            if endpoints.substrate != substrate or endpoints.clean.shape[0] != n:
                raise ValueError("endpoints were computed for other clips or another substrate")
            first, last = (endpoints.clean, endpoints.substituted) if mode == "deletion" else (endpoints.substituted, endpoints.clean)
            at_start, at_end = changed == 0, changed == ranks.num_cells
            scores = torch.where(at_start, first.float().cpu()[:, None], scores)
            scores = torch.where(at_end, last.float().cpu()[:, None], scores)
            todo &= ~(at_start | at_end)
        clip_of = torch.arange(n)[:, None].expand_as(changed)
        # one job per distinct (clip, count), clip by clip
        keys = clip_of[todo] * (ranks.num_cells + 1) + changed[todo]
        unique_keys, inverse = torch.unique(keys, return_inverse=True)
        if len(unique_keys):
            job_clip = unique_keys // (ranks.num_cells + 1)
            job_changed = unique_keys % (ranks.num_cells + 1)
            result = self.masked(clips, ranks, targets, mode, substrate, job_clip, job_changed)
            scores[todo] = result.probability[inverse]
        return Curves(fractions, scores)

    def masked(
        self,
        clips: torch.Tensor,
        ranks: CellRanks,
        targets: torch.Tensor,
        mode: Mode,
        substrate: str,
        job_clip: torch.Tensor,
        job_changed: torch.Tensor,
    ) -> Predictions:
        """Score arbitrary (clip, number of cells changed) pairs: the building block of every test.

        Args:
            clips: (N, C, T, H, W).
            ranks: cell ranks of the N clips.
            targets: (N,).
            job_clip: (J,) clip index of each input.
            job_changed: (J,) number of cells changed in that input (cells of rank below it).
        Returns:
            predictions of the J inputs (on the CPU).
        """
        _check_substrate(substrate)
        keys = self._memo_keys(clips, ranks, targets, mode, substrate, job_clip, job_changed)
        known = [self._memo.get(key) for key in keys]
        missing = [i for i, value in enumerate(known) if value is None]
        first_of: dict[tuple, int] = {}
        todo = [i for i in missing if first_of.setdefault(keys[i], i) == i]  # each distinct input once
        if todo:
            index = torch.tensor(todo, dtype=torch.int64)
            fresh = self._masked_forward(clips, ranks, targets, mode, substrate, job_clip[index], job_changed[index])
            for i, p, c in zip(todo, fresh.probability.tolist(), fresh.predicted.tolist()):
                self._memo[keys[i]] = (p, c)
        self.inputs_reused += len(keys) - len(todo)
        values = [self._memo[key] for key in keys]
        return Predictions(torch.tensor([p for p, _ in values], dtype=torch.float32),
                           torch.tensor([c for _, c in values], dtype=torch.int64))

    def _memo_keys(self, clips: torch.Tensor, ranks: CellRanks, targets: torch.Tensor, mode: Mode, substrate: str,
                   job_clip: torch.Tensor, job_changed: torch.Tensor) -> list[tuple]:
        """One hashable key per job: what the perturbed input is made of (substrate and its settings, clip, target,
        the voxels kept from the clip). Resets the memo when ``clips`` is not the tensor it was built on."""
        import hashlib

        import numpy as np

        if self._memo_clips is None or self._memo_clips[0] is not clips or self._memo_clips[1] != _version(clips):
            self._memo_clips, self._memo = (clips, _version(clips)), {}
        settings = (substrate, self.blur_sigma if substrate == "blur" else None,
                    self.road_noise if substrate == "road" else None)
        rank_map = ranks.ranks.cpu()
        keys = []
        for clip, count in zip(job_clip.tolist(), job_changed.tolist()):
            changed = (rank_map[clip] < count).numpy()
            kept = ~changed if mode == "deletion" else changed
            digest = hashlib.blake2b(np.packbits(kept).tobytes() + str(kept.shape).encode(), digest_size=16).digest()
            keys.append((settings, clip, int(targets[clip]), digest))
        return keys

    def _masked_forward(self, clips: torch.Tensor, ranks: CellRanks, targets: torch.Tensor, mode: Mode,
                        substrate: str, job_clip: torch.Tensor, job_changed: torch.Tensor) -> Predictions:
        """The forward passes of :meth:`masked` (no memo)."""
        device = self._device_for(clips)
        clips = clips.to(device)
        rank_map = ranks.ranks.to(device)
        targets = targets.to(device)
        job_clip = job_clip.to(device)
        job_changed = job_changed.to(device=device, dtype=torch.int32)
        frozen = substrate == "frozen"
        road = substrate == "road"
        if frozen and rank_map.shape[2:] != (1, 1):
            raise ValueError("the 'frozen' substrate needs frame ranks (whole frames are removed)")
        base = None if frozen or road else self._substrate(clips, substrate)
        noise = self._road_noise_fields(clips) if road else None
        deletion = mode == "deletion"

        def build(index: torch.Tensor) -> torch.Tensor:
            clip_index = job_clip[index]
            if frozen:
                changed = rank_map[clip_index] < job_changed[index].view(-1, 1, 1, 1)  # (B, T, 1, 1)
                kept = ~changed[:, :, 0, 0] if deletion else changed[:, :, 0, 0]
                return freeze_removed_frames(clips[clip_index], kept)
            if road:
                changed = rank_map[clip_index] < job_changed[index].view(-1, 1, 1, 1)  # (B, T, H|1, W|1)
                return noisy_linear_imputation(clips[clip_index], ~changed if deletion else changed, noise[clip_index])
            # jobs come clip by clip: per run of one clip, broadcast that clip and its substrate instead of
            # gathering copies, so the batch is written once
            out = torch.empty((len(index), *clips.shape[1:]), dtype=clips.dtype, device=device)
            clip_ids, counts = torch.unique_consecutive(clip_index, return_counts=True)
            start = 0
            for clip, count in zip(clip_ids.tolist(), counts.tolist()):
                stop = start + count
                changed = (rank_map[clip] < job_changed[index[start:stop]].view(-1, 1, 1, 1)).unsqueeze(1)
                first, second = (base[clip], clips[clip]) if deletion else (clips[clip], base[clip])
                torch.where(changed, first, second, out=out[start:stop])
                start = stop
            return out

        resident = _nbytes(clips) * (1 if frozen or substrate in ("mean", "mean_frame") else 2) + _nbytes(rank_map)
        per_job = 3 if frozen else 6 if road else 1  # road: the clip, its noise, and the pyramid's levels and sweeps
        return self._evaluate(len(job_clip), build, targets[job_clip], clips.shape[1:], resident_bytes=resident, inputs_per_job=per_job)

    def batch_size_for(
        self, input_shape: tuple[int, ...], resident_bytes: int = 0, inputs_per_job: int = 1, device: Optional[torch.device] = None,
    ) -> int:
        """Batch size that keeps the engine within its memory budget for inputs of shape (C, T, H, W).

        Per input: its measured activation memory plus ``inputs_per_job`` copies of the input used to build it.
        """
        if self.fixed_batch_size is not None:
            return self.fixed_batch_size
        per_input, fixed = self._activation_memory(tuple(input_shape), device or self.device or torch.device("cpu"))
        element = 4
        for size in input_shape:
            element *= size
        per_job = per_input + inputs_per_job * element
        free = self.memory_budget_mb * _MB - resident_bytes - fixed
        size = int(free // per_job) if per_job > 0 else self.max_batch_size
        if size < 1:
            log.warning(
                "metrics memory budget of %.0f MB is too small for one input of shape %s (needs about %.0f MB); "
                "running one input at a time", self.memory_budget_mb, tuple(input_shape), (resident_bytes + fixed + per_job) / _MB,
            )
        size = max(1, min(size, self.max_batch_size))
        if self._oom_cap is not None:
            size = min(size, self._oom_cap)
        return size

    def tuned_batch_size(self, input_shape: tuple[int, ...]) -> Optional[int]:
        """The batch size the CPU tuner settled on for inputs of shape (C, T, H, W), or None (not yet / not tuned)."""
        tuner = self._tuners.get(tuple(input_shape))
        return tuner.best if tuner is not None else None

    # ------------------------------------------------------------------ internals

    def _device_for(self, clips: torch.Tensor) -> torch.device:
        return self.device if self.device is not None else clips.device

    def _substrate(self, clips: torch.Tensor, name: str) -> torch.Tensor:
        """The fixed substrate of ``clips``, cached: every curve of the same clips reuses it (blur is not cheap).

        An entry holds the clips tensor itself, so a hit needs the very same tensor, unmodified.
        """
        for cached_clips, version, cached_name, sigma, substrate in self._substrate_cache:
            if cached_clips is clips and version == _version(clips) and cached_name == name and sigma == self.blur_sigma:
                return substrate
        with torch.inference_mode():
            substrate = fixed_substrate(clips, name, self.blur_sigma)
        self._substrate_cache = [(clips, _version(clips), name, self.blur_sigma, substrate)] + self._substrate_cache[: self.SUBSTRATE_CACHE_SIZE - 1]
        return substrate

    def _road_noise_fields(self, clips: torch.Tensor) -> torch.Tensor:
        """(N, C, T, H, W) noise of the ``road`` substrate: clip i's field is drawn from a generator seeded with i,
        so it is the same at every step and for every batch size."""
        shape = clips.shape[1:]
        fields = [torch.randn(shape, generator=torch.Generator().manual_seed(i)) for i in range(clips.shape[0])]
        return (torch.stack(fields) * self.road_noise).to(device=clips.device, dtype=clips.dtype)

    def _logits(self, inputs: torch.Tensor) -> torch.Tensor:
        out = self.forward_fn(inputs)
        return out.logits if isinstance(out, VideoModelOutput) else out

    def _evaluate(
        self,
        num_jobs: int,
        build: Callable[[torch.Tensor], torch.Tensor],
        job_targets: torch.Tensor,
        input_shape: tuple[int, ...],
        resident_bytes: int,
        inputs_per_job: int = 1,
    ) -> Predictions:
        """Run ``build(index)`` -> inputs for every job in batches; collect target probability and argmax."""
        device = job_targets.device
        probability = torch.empty(num_jobs, dtype=torch.float32, device=device)
        predicted = torch.empty(num_jobs, dtype=torch.int64, device=device)
        shape = tuple(input_shape)
        start = 0
        with torch.inference_mode():
            limit = self.batch_size_for(shape, resident_bytes, inputs_per_job, device) if num_jobs else 1
            tuner = None if self.fixed_batch_size is not None or device.type == "cuda" else self._tuners.setdefault(shape, BatchSizeTuner())
            while start < num_jobs:
                batch = tuner.next_size(limit) if tuner is not None else limit
                index = torch.arange(start, min(start + batch, num_jobs), device=device)
                began = time.perf_counter()
                try:
                    inputs = build(index)
                    if len(index) == 1:  # batches of one take other kernels on CPUs: pad to two
                        inputs = torch.cat([inputs, inputs])
                    if device.type == "cpu" and inputs.dim() == 5:
                        inputs = inputs.contiguous(memory_format=torch.channels_last_3d)
                    with autocast_context(device, self.use_autocast):
                        logits = self._logits(inputs)[: len(index)]
                except torch.OutOfMemoryError:
                    if device.type != "cuda" or batch == 1:
                        raise
                    torch.cuda.empty_cache()
                    limit = max(1, batch // 2)
                    self._oom_cap = limit
                    log.info("out of memory in a metrics batch; retrying with batch size %d", limit)
                    continue
                probs = logits.float().softmax(dim=1)
                probability[index] = probs.gather(1, job_targets[index].view(-1, 1)).squeeze(1)
                predicted[index] = logits.argmax(dim=1)
                took = time.perf_counter() - began
                if tuner is not None and tuner.best is None and len(index) == batch:
                    tuner.record(batch, took)
                self.forward_seconds += took
                self.inputs_evaluated += len(index)
                start += len(index)
        return Predictions(probability.cpu(), predicted.cpu())

    def _activation_memory(self, input_shape: tuple[int, ...], device: torch.device) -> tuple[float, float]:
        """(bytes per input, fixed bytes) of one forward pass, measured at batch 1 and 2 (cached per shape)."""
        key = (input_shape, str(device))
        if key not in self._activation_bytes:
            peaks = []
            for batch in (1, 2):
                probe = torch.zeros((batch, *input_shape), device=device)
                with torch.inference_mode(), autocast_context(device, self.use_autocast), LiveTensorMemory() as tracker:
                    self._logits(probe)
                peaks.append(tracker.peak)
            per_input = max(peaks[1] - peaks[0], peaks[0] / 2, 1)
            fixed = max(peaks[0] - per_input, 0)
            self._activation_bytes[key] = (float(per_input), float(fixed))
            log.debug("forward activations for input %s: %.1f MB per input + %.1f MB", input_shape, per_input / _MB, fixed / _MB)
        return self._activation_bytes[key]


class BatchSizeTuner:
    """Finds the fastest batch size on a CPU from the engine's own first batches (no extra forward passes).

    Candidate sizes (powers of two from 2 to 32, within the memory limit) are timed three times each (the
    first pass of a new shape builds kernels), in increasing order until one is clearly slower per input than a
    smaller one; then the largest size within 10% of the least time per input is used for good.
    """

    #: on a CPU, batches beyond a few dozen clips only add cache misses
    CANDIDATES = (2, 4, 8, 16, 32)
    REPEATS = 3
    SLOWER_STOP = 1.15
    NEAR_BEST = 1.1

    def __init__(self) -> None:
        self.seconds_per_input: dict[int, list[float]] = {}
        self.best: Optional[int] = None

    def next_size(self, limit: int) -> int:
        if self.best is not None:
            return min(self.best, limit)
        fastest = float("inf")
        for size in self.CANDIDATES:
            if size > limit:
                break
            times = self.seconds_per_input.get(size, [])
            if len(times) < self.REPEATS:
                return size
            if min(times) > self.SLOWER_STOP * fastest:  # past the sweet spot: larger sizes only get slower
                break
            fastest = min(fastest, min(times))
        timed = {size: min(t) for size, t in self.seconds_per_input.items() if size <= limit and t}
        if timed:  # the largest size within NEAR_BEST of the fastest: timing noise is larger than those gaps
            fastest = min(timed.values())
            self.best = max(size for size, t in timed.items() if t <= self.NEAR_BEST * fastest)
        else:
            self.best = limit
        log.debug("metrics batch size: %d (seconds per input by size: %s)", self.best, timed)
        return min(self.best, limit)

    def record(self, size: int, seconds: float) -> None:
        self.seconds_per_input.setdefault(size, []).append(seconds / size)


def channels_last_model(model: torch.nn.Module) -> torch.nn.Module:
    """Store every 5-D weight of ``model`` (its 3-D convolutions) in the ``channels_last_3d`` memory format, in
    place; the values do not change. CPU convolutions of clips run about 1.6x faster this way."""
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() == 5:
                parameter.data = parameter.data.contiguous(memory_format=torch.channels_last_3d)
    return model


def _cells_changed(num_cells: int, num_steps: int) -> torch.Tensor:
    """(S+1,) int64 number of cells changed after each step: round(k * M / S), from 0 to M."""
    k = torch.arange(num_steps + 1, dtype=torch.int64)
    return (2 * k * num_cells + num_steps) // (2 * num_steps)


def _fractions_changed(voxels_per_rank: torch.Tensor, changed: torch.Tensor) -> torch.Tensor:
    """(N, S+1) float64 fraction of voxels in the cells of rank < changed[i, k] ((S+1,) counts: the same for all)."""
    counts = voxels_per_rank.double().cpu()
    cumulative = torch.cat([torch.zeros(counts.shape[0], 1, dtype=torch.float64), counts.cumsum(dim=1)], dim=1)
    index = changed.cpu().expand(counts.shape[0], -1) if changed.dim() == 1 else changed.cpu()
    return cumulative.gather(1, index) / cumulative[:, -1:]


def _version(tensor: torch.Tensor) -> int:
    """In-place modification counter (inference tensors have none: -1)."""
    return -1 if tensor.is_inference() else tensor._version


def _check_substrate(name: str) -> None:
    if name not in SUBSTRATES:
        raise ValueError(f"unknown substrate {name!r}; valid: {', '.join(SUBSTRATES)}")


def _nbytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()


def _module_device(forward_fn: ForwardFn) -> Optional[torch.device]:
    parameters = getattr(forward_fn, "parameters", None)
    if callable(parameters):
        for parameter in parameters():
            return parameter.device
    return None


__all__ = ["Curves", "Endpoints", "ForwardFn", "MODES", "PerturbationEngine", "Predictions", "FIXED_SUBSTRATES",
           "channels_last_model"]
