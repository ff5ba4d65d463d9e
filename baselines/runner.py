"""``explain``: run one registered method on a batch of clips and return a checked :class:`Explanation`.

Orchestration only (eval mode, seeding, chunking into bounded batches, timing, error reporting); the maths of
each method lives in its own module and the shared post-processing in :mod:`stabn_bench.baselines.postprocess`.
"""
from __future__ import annotations

import contextlib
import logging
import random
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import torch
from torch import nn

from .errors import MethodError
from .explanation import Explanation, TargetKind
from .forward import eval_mode, model_device, preserved_state
from .memory import bounded_batch_size
from .postprocess import check_finite, frame_importance, to_input_resolution
from .registry import RawAttribution, get_method
from .targets import TARGET_KINDS, predicted_classes

log = logging.getLogger("stabn_bench")

#: Captum's notices about what it does on purpose (inputs set to require gradients, ReLU hooks for guided
#: backprop); anything else it warns about still reaches the user.
_EXPECTED_CAPTUM_WARNINGS = ("Input Tensor .* did not already require gradients", "Setting backward hooks on ReLU",
                             "Setting forward, backward hooks and attributes on non-linear")

#: Default bound on the clips (or perturbed copies of clips) in one forward / backward pass.
DEFAULT_BATCH_SIZE = 8


@contextlib.contextmanager
def seeded_random_state(seed: int, device: torch.device) -> Iterator[None]:
    """Seed every global generator a method may draw from (torch's, NumPy's: Captum's GradientShap draws its
    interpolation points with ``np.random``, Python's ``random``: Captum's baseline choice) and restore them on exit,
    so a method's draws depend on ``seed`` alone, not on what ran before it in this process."""
    numpy_state, python_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__


def _check_inputs(name: str, clips: torch.Tensor, targets: torch.Tensor | None) -> None:
    if not isinstance(clips, torch.Tensor) or clips.dim() != 5 or not clips.is_floating_point():
        shape = tuple(clips.shape) if isinstance(clips, torch.Tensor) else type(clips).__name__
        raise MethodError(name, f"clips must be a float tensor (N, C, T, H, W); got {shape}")
    if clips.shape[0] == 0:
        raise MethodError(name, "clips is empty (N = 0)")
    if not bool(torch.isfinite(clips).all()):
        raise MethodError(name, f"clips hold {int((~torch.isfinite(clips)).sum())} NaN or inf values")
    if targets is not None and tuple(targets.shape) != (clips.shape[0],):
        raise MethodError(name, f"targets must have shape ({clips.shape[0]},) for {clips.shape[0]} clips; "
                                f"got {tuple(targets.shape)}")


def as_class_indices(name: str, what: str, values: Any) -> torch.Tensor:
    """``values`` as a long tensor of class indices; floats with a fraction, complex or negative values raise
    :class:`MethodError` naming ``what`` (never silently truncated)."""
    tensor = values if isinstance(values, torch.Tensor) else torch.as_tensor(values)
    if tensor.is_complex() or tensor.dtype == torch.bool:
        raise MethodError(name, f"{what} must be integer class indices; got dtype {tensor.dtype}")
    if tensor.is_floating_point():
        if not bool(torch.isfinite(tensor).all()) or not bool((tensor == tensor.round()).all()):
            raise MethodError(name, f"{what} must be integer class indices; got non-integer values "
                                    f"{tensor.reshape(-1)[:4].tolist()}")
    tensor = tensor.long().reshape(-1)
    if bool((tensor < 0).any()):
        raise MethodError(name, f"{what} must be class indices >= 0; got {int(tensor.min())}")
    return tensor


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _checked_maps(name: str, raw: torch.Tensor | RawAttribution,
                  input_shape: torch.Size) -> tuple[torch.Tensor, torch.Tensor, str, str, tuple[int, int, int]]:
    """A method's raw output for clips of ``input_shape`` (N, C, T, H, W) -> (N, T, H, W) map, (N, T) per-frame
    importance, reduction, upsampling and the raw map's native (T', h, w); MethodError on a wrong shape, NaN or inf."""
    native_temporal = None
    if isinstance(raw, RawAttribution):
        raw, native_temporal = raw.map, raw.temporal
    maps, reduction, upsampling = to_input_resolution(name, raw, input_shape)
    native_shape = (input_shape[2], 1, 1) if raw.dim() == 2 else tuple(int(v) for v in raw.shape[-3:])
    check_finite(name, "map", maps)
    if native_temporal is None:
        return maps, frame_importance(maps), reduction, upsampling, native_shape
    if not isinstance(native_temporal, torch.Tensor) or native_temporal.is_complex():
        what = native_temporal.dtype if isinstance(native_temporal, torch.Tensor) else type(native_temporal).__name__
        raise MethodError(name, f"returned a temporal importance of type {what}; expected a real tensor (N, T)")
    temporal = native_temporal.detach().float()
    expected = (input_shape[0], input_shape[2])
    if tuple(temporal.shape) != expected:
        raise MethodError(name, f"returned a temporal importance of shape {tuple(temporal.shape)}; expected {expected}")
    check_finite(name, "temporal importance", temporal)
    return maps, temporal, reduction, upsampling, native_shape


def explain(name: str, model: nn.Module, clips: torch.Tensor, targets: torch.Tensor | None = None,
            target_kind: TargetKind = "predicted", seed: int = 0, batch_size: int = DEFAULT_BATCH_SIZE,
            memory_budget_mb: float | None = None, ground_truth: Mapping[str, torch.Tensor] | None = None,
            **options: Any) -> Explanation:
    """Explain ``model``'s decision on ``clips`` with the registered method ``name``.

    Args:
        name: a registered method (``baselines.available_methods()``).
        model: a video model; ``model(clips)`` returns ``VideoModelOutput``. It is run in eval mode (its mode is
            restored afterwards), on its own device.
        clips: (N, C, T, H, W) float, ImageNet-normalised.
        targets: (N,) class indices to explain; None -> the model's predicted classes (one extra forward pass).
        target_kind: what ``targets`` are (``predicted`` or ``label``); recorded with the result.
        seed: seeds every random draw of the method (noise, random maps); the global RNG is left untouched.
        batch_size: at most this many clips per call of the method, and the bound the method uses for its own
            internal batches (perturbations, integration steps, noise samples).
        memory_budget_mb: lowers ``batch_size`` so that one pass fits this budget, from the activation memory of
            one clip (:mod:`stabn_bench.baselines.memory`); None: 80% of the free memory on CUDA, no bound on the CPU.
        ground_truth: the batch's ground truth by name (``evidence`` (N, T, H, W), ``action_window`` (N, T),
            ``window_prior`` (T,)), passed to the methods that name it in their signature (oracle controls,
            placement priors; ``registry.GROUND_TRUTH_INPUTS``). A method that requires one that is missing
            raises :class:`MethodError`.
        **options: method-specific options (see ``stabn-bench methods``); unknown ones raise.

    Returns:
        An :class:`Explanation` with ``spatiotemporal`` (N, T, H, W) and ``temporal`` (N, T) on the CPU.

    Raises:
        MethodError: naming the method, when it does not apply to the model, raises, returns a wrong shape, or
            returns NaN / inf.
    """
    spec = get_method(name)
    if not isinstance(model, nn.Module):
        raise MethodError(name, f"model must be a torch.nn.Module; got {type(model).__name__}")
    arch = getattr(model, "arch", None)
    if not spec.applies_to(arch):
        raise MethodError(name, f"applies to models {spec.models_text}; this model is '{arch}'")
    if target_kind not in TARGET_KINDS:
        raise MethodError(name, f"unknown target kind {target_kind!r}; valid: {', '.join(TARGET_KINDS)}")
    if batch_size < 1:
        raise MethodError(name, f"batch_size must be >= 1, got {batch_size}")
    unknown = sorted(set(options) - set(spec.defaults))
    if unknown and not spec.accepts_any_option:
        valid = ", ".join(sorted(spec.defaults)) or "none"
        raise MethodError(name, f"unknown option(s) {', '.join(unknown)}; valid options: {valid}")
    if targets is not None:
        targets = as_class_indices(name, "targets", targets)
    _check_inputs(name, clips, targets)
    ground_truth = {k: v for k, v in (ground_truth or {}).items() if v is not None}
    missing = [k for k in spec.needs if k not in ground_truth]
    if missing:
        raise MethodError(name, f"needs ground truth ({', '.join(missing)}); this data has none")
    if targets is None:
        if target_kind == "label":
            raise MethodError(name, "target kind 'label' needs targets (the labels); none were given")
        targets = predicted_classes(model, clips)

    device = model_device(model)
    try:
        with eval_mode(model):
            batch_size = bounded_batch_size(model, clips[:1].to(device), batch_size, memory_budget_mb)
    except Exception as err:
        raise MethodError(name, f"measuring the model's memory per clip raised {_first_line(err)}") from err
    used = {**spec.defaults, **options}
    call_options = dict(options)
    if "batch_size" in spec.defaults or spec.accepts_any_option:
        call_options["batch_size"] = used["batch_size"] = batch_size
    n = clips.shape[0]
    truth = {k: torch.as_tensor(ground_truth[k]) for k in (*spec.needs, *spec.uses) if k in ground_truth}
    maps_out, temporal_out = [], []
    reduction = upsampling = ""
    native_shape = None
    with preserved_state(model), torch.enable_grad(), warnings.catch_warnings(), seeded_random_state(seed, device):
        for message in _EXPECTED_CAPTUM_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        _sync(device)
        start = time.perf_counter()
        for begin in range(0, n, batch_size):
            chunk = clips[begin:begin + batch_size].to(device)
            chunk_targets = targets[begin:begin + batch_size].to(device)
            chunk_truth = {k: (v[begin:begin + batch_size] if k != "window_prior" else v).to(device)
                           for k, v in truth.items()}
            try:
                raw = spec.fn(model, chunk, chunk_targets, **call_options, **chunk_truth)
            except MethodError:
                raise
            except Exception as err:
                raise MethodError(name, f"raised {_first_line(err)}") from err
            maps, temporal, reduction, upsampling, native_shape = _checked_maps(name, raw, chunk.shape)
            maps_out.append(maps.cpu())
            temporal_out.append(temporal.cpu())
        _sync(device)
        seconds = time.perf_counter() - start
    return Explanation(
        method=name, spatiotemporal=torch.cat(maps_out), temporal=torch.cat(temporal_out), targets=targets.cpu(),
        target_kind=target_kind, reduction=reduction, upsampling=upsampling, cost=spec.cost, seconds=seconds,
        options=used, native_shape=native_shape,
    )


@dataclass
class ExplainBatchResult:
    """Every method's explanation of one batch; methods that failed are listed with their reason."""

    explanations: dict[str, Explanation] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


def explain_all(names: Iterable[str], model: nn.Module, clips: torch.Tensor, targets: torch.Tensor | None = None,
                target_kind: TargetKind = "predicted", seed: int = 0, batch_size: int = DEFAULT_BATCH_SIZE,
                options: Mapping[str, Mapping[str, Any]] | None = None,
                memory_budget_mb: float | None = None,
                ground_truth: Mapping[str, torch.Tensor] | None = None) -> ExplainBatchResult:
    """Run several methods on the same clips; a method that fails is reported (logged, and in ``failures``)
    and the others go on. Targets are resolved once and shared by all methods.

    Args:
        options: per-method options, ``{method name: {option: value}}``.
    """
    options = options or {}
    if targets is None and target_kind == "predicted":
        targets = predicted_classes(model, clips)
    result = ExplainBatchResult()
    for name in names:
        try:
            result.explanations[name] = explain(name, model, clips, targets, target_kind=target_kind, seed=seed,
                                                batch_size=batch_size, memory_budget_mb=memory_budget_mb,
                                                ground_truth=ground_truth, **dict(options.get(name, {})))
        except MethodError as err:
            log.warning("%s; going on with the other methods", err)
            result.failures[name] = err.reason
    return result
