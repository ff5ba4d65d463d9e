"""The Python entry point for any video classifier: explain it with the registered methods and score the
explanations with the registered metrics, the same engine, registry and statistics as ``stabn-bench run``.

::

    import stabn_bench
    scores = stabn_bench.evaluate(model, clips, targets, methods=["saliency", "gradcam"],
                                  metrics=["deletion_auc", "insertion_auc"])
    stabn_bench.summarise(scores)          # mean and 95% bootstrap CI per model x method x metric

``model`` is any ``nn.Module`` mapping clips (N, C, T, H, W) to logits (N, K), or to an object with ``.logits``.
The result is the long table of ``scores.csv``: ``model, method, metric, clip_id, value``.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Any, Mapping, Optional, Sequence, Union

import pandas as pd
import torch
from torch import nn

from stabn_bench import baselines
from stabn_bench.baselines.forward import preserved_state
from stabn_bench.benchmark.config import ConfigError, to_dict
from stabn_bench.benchmark.config.loader import _build
from stabn_bench.benchmark.config.names import check_method_names, check_metric_names
from stabn_bench.benchmark.config.schema import ExplainConfig, MetricsConfig
from stabn_bench.core import MODEL_LEVEL, RESULT_COLUMNS, VideoModelOutput
from stabn_bench.benchmark.pipeline.clip_batch import ClipBatchInputs, score_clip_batch
from stabn_bench.metrics.sanity import cascade_layer_names

#: columns of the table :func:`evaluate` returns (those of ``scores.csv``)
SCORE_COLUMNS = RESULT_COLUMNS["scores"]
#: columns of the failures in ``evaluate(...).attrs["errors"]`` (those of ``errors.csv``)
ERROR_COLUMNS = RESULT_COLUMNS["errors"]
#: the architecture name an outside model gets: only methods registered for ``models="all"`` apply to it
EXTERNAL_ARCH = "external"


class AnyVideoModel(nn.Module):
    """Wraps a classifier so that it looks like the project's models: ``forward`` returns a
    :class:`VideoModelOutput` and ``gradcam_layer`` names the module Grad-CAM weighs.

    Args:
        model: maps (N, C, T, H, W) to logits (N, K), or to an object with a ``.logits`` attribute.
        gradcam_layer: the module whose (N, C', T', h, w) output Grad-CAM uses; None = the last direct child of
            ``model`` with a 5-D output larger than 1x1x1 (found by one forward pass on ``example``).
        example: clips for that forward pass.
    """

    arch = EXTERNAL_ARCH

    def __init__(self, model: nn.Module, gradcam_layer: Optional[nn.Module] = None,
                 example: Optional[torch.Tensor] = None):
        super().__init__()
        self.model = model
        if gradcam_layer is None and example is not None:
            gradcam_layer = find_gradcam_layer(model, example)
        # kept out of the module tree: it is already a sub-module of ``model`` (no double registration)
        self.__dict__["gradcam_layer"] = gradcam_layer

    def forward(self, clips: torch.Tensor) -> VideoModelOutput:
        out = self.model(clips)
        logits = out.logits if hasattr(out, "logits") else out
        if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
            shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise ValueError(f"the model must return logits (N, K) or an object with .logits; got {shape}")
        return VideoModelOutput(logits=logits)


@torch.no_grad()
def find_gradcam_layer(model: nn.Module, example: torch.Tensor) -> Optional[nn.Module]:
    """The last direct child of ``model`` (in execution order) whose output is (N, C, T, h, w) with T*h*w > 1."""
    seen: list[nn.Module] = []

    def hook(module: nn.Module, _inputs: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor) and output.dim() == 5 and output.shape[2:].numel() > 1:
            seen.append(module)

    handles = [child.register_forward_hook(hook) for child in model.children()]
    was_training = model.training
    try:
        model.eval()
        model(example[:1])
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return seen[-1] if seen else None


def _as_video_model(model: nn.Module, clips: torch.Tensor, gradcam_layer: Optional[nn.Module]) -> nn.Module:
    """The project's own models are used as they are; anything else is wrapped in :class:`AnyVideoModel`."""
    if getattr(model, "arch", None) in ("baseline", "abn", "stabn") and gradcam_layer is None:
        return model
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    return AnyVideoModel(model, gradcam_layer, example=clips[:1].to(device))


def _metrics_config(metrics: Sequence[str], settings: Union[MetricsConfig, Mapping[str, Any], None]) -> MetricsConfig:
    if isinstance(settings, MetricsConfig):
        tree = to_dict(settings)
    else:
        tree = {**to_dict(MetricsConfig()), **dict(settings or {})}
    tree["metrics"] = list(metrics)
    return _build(MetricsConfig, tree, prefix="metrics.")  # validates, loads metrics_module, checks names


def evaluate(
    model: nn.Module,
    clips: torch.Tensor,
    targets: Optional[torch.Tensor] = None,
    methods: Sequence[str] = ("all",),
    metrics: Sequence[str] = ("all",),
    masks: Optional[torch.Tensor] = None,
    windows: Optional[torch.Tensor] = None,
    window_prior: Optional[torch.Tensor] = None,
    labels: Optional[torch.Tensor] = None,
    clip_ids: Optional[Sequence[str]] = None,
    model_name: Optional[str] = None,
    options: Optional[Mapping[str, Mapping[str, Any]]] = None,
    batch_size: int = 8,
    seed: int = 0,
    settings: Union[MetricsConfig, Mapping[str, Any], None] = None,
    gradcam_layer: Optional[nn.Module] = None,
    errors: str = "warn",
) -> pd.DataFrame:
    """Explain ``model`` on ``clips`` with every method and score every explanation with every metric.

    Args:
        model: any ``nn.Module`` mapping (N, C, T, H, W) to logits (N, K) (or to an object with ``.logits``);
            it is run in eval mode on its own device (its mode is restored afterwards).
        clips: (N, C, T, H, W) float clips, normalised as the model expects (the ``zero`` substrate and
            references are the all-zero clip, i.e. the mean colour for ImageNet-normalised clips).
        targets: (N,) classes to explain; None = the model's predictions (as ``explain.target=predicted``).
        methods: registered method names or ``all`` (every method that applies to any model: ``models="all"``).
        metrics: metric names (built in or plug-in) or ``all``; a metric whose inputs are missing is skipped.
        masks: (N, T, H, W) ground-truth evidence masks (localisation metrics), or None.
        windows: (N, T) ground-truth action windows (``temporal_auroc``), or None.
        window_prior: (T,) probability that each frame lies in the action window (the data's placement prior:
            the ``centre-prior`` control and ``temporal_auroc_vs_prior`` use it), or None.
        labels: (N,) true classes for the keep-top-k accuracy; default ``targets`` (or the predictions).
        clip_ids: names of the clips in the table; default ``"0"``, ``"1"``, ...
        model_name: the ``model`` column; default the model's ``arch`` or its class name.
        options: per-method options, ``{"integrated-gradients": {"n_steps": 32}}`` (unknown ones raise).
        batch_size: clips per batch (the shared ``batch_size`` option of every method, and the clip batches).
        seed: seeds tie-breaks, random orders and the methods' noise, as ``seed`` in a run's config.
        settings: the ``metrics`` section of a run config (a :class:`MetricsConfig` or a mapping of its keys,
            e.g. ``{"steps": 8, "substrate": "zero", "metrics_module": "my_metrics.py"}``).
        gradcam_layer: the module Grad-CAM weighs; default the last 5-D stage of the model (see
            :func:`find_gradcam_layer`).
        errors: ``warn`` (a method that fails is left out, with a warning and a row in ``.attrs["errors"]``) or
            ``raise``.

    Returns:
        The long table ``model, method, metric, clip_id, value`` (one row per value; model-level metrics carry
        the method ``-``), as in ``scores.csv``; ``.attrs["errors"]`` holds the failures (``errors.csv`` columns).

    Raises:
        ConfigError: an unknown method, option, metric or setting (before any work).
        TypeError / ValueError: naming the bad argument (before any work): ``model`` not an ``nn.Module``;
            ``clips`` not a finite float (N, C, T, H, W) tensor; ``targets`` / ``labels`` not (N,) integer classes
            in [0, K); ``masks`` / ``windows`` of the wrong shape or not boolean (0/1); repeated ``clip_ids``.

    A named method that does not apply to the model (or needs ground truth that was not given) is left out with a
    warning. The model is handed back exactly as it came: train/eval mode, weights, buffers, ``requires_grad``.
    A plug-in metric that fails is a row of ``.attrs["errors"]`` naming it; the other metrics are still scored.
    """
    if errors not in ("warn", "raise"):
        raise ValueError(f"errors must be 'warn' or 'raise', got {errors!r}")
    _check_model(model)
    n = _check_clips(clips)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1; got {batch_size!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0; got {seed!r}")
    options = {name: dict(opts) for name, opts in (options or {}).items()}
    explain_cfg = _build(ExplainConfig, {"methods": list(methods), "options": options, "batch_size": batch_size},
                         prefix="explain.")
    check_method_names(explain_cfg)
    cfg = _metrics_config(metrics, settings)
    check_metric_names(cfg)
    clip_ids = _check_clip_ids(clip_ids, n)
    targets = None if targets is None else _check_classes("targets", targets, n)
    labels = None if labels is None else _check_classes("labels", labels, n)
    masks = None if masks is None else _check_truth("masks", masks, (n, *clips.shape[2:]))
    windows = None if windows is None else _check_truth("windows", windows, (n, clips.shape[2]))
    window_prior = None if window_prior is None else _check_prior(window_prior, clips.shape[2])

    with _handed_back(model):
        return _evaluate(model, clips, targets, methods, masks, windows, window_prior, labels, clip_ids, model_name,
                         explain_cfg, seed, cfg, gradcam_layer, errors, n)


def _evaluate(model, clips, targets, methods, masks, windows, window_prior, labels, clip_ids, model_name,
              explain_cfg, seed, cfg, gradcam_layer, errors, n) -> pd.DataFrame:
    video_model = _as_video_model(model, clips, gradcam_layer)
    name_of_model = model_name or getattr(model, "arch", None) or type(model).__name__
    arch = getattr(video_model, "arch", EXTERNAL_ARCH)
    if targets is not None or labels is not None:
        _check_in_range(video_model, clips, {"targets": targets, "labels": labels})
    chosen = _chosen_methods(methods, arch, masks, windows)
    cascade = ([f"model.{name}" for name in cascade_layer_names(video_model.model)]
               if isinstance(video_model, AnyVideoModel) else None)
    device = next((p.device for p in video_model.parameters()), torch.device("cpu"))
    batch_size = explain_cfg.batch_size
    rows: list[tuple] = []
    failures: list[tuple] = []
    was_training = video_model.training
    video_model.eval()
    try:
        for batch, begin in enumerate(range(0, n, batch_size)):
            part = slice(begin, begin + batch_size)
            ids = clip_ids[part]
            x = clips[part].to(device)
            if targets is None:
                explained, kind = baselines.predicted_classes(video_model, x), "predicted"
            else:
                explained, kind = torch.as_tensor(targets[part]).long().cpu(), "label"
            inputs = ClipBatchInputs(
                clips=x, targets=explained,
                labels=torch.as_tensor(labels[part]).long().cpu() if labels is not None else explained,
                clip_ids=ids, seed=seed * 1000 + batch, target_kind=kind,
                evidence=None if masks is None else torch.as_tensor(masks[part]).float(),
                window=None if windows is None else torch.as_tensor(windows[part]).float(),
                window_prior=window_prior, first=batch == 0,
            )
            for unit in score_clip_batch(video_model, inputs, [MODEL_LEVEL, *chosen], cfg, explain_cfg,
                                         cascade_layers=cascade, raise_errors=errors == "raise"):
                if unit.error is not None:
                    warnings.warn(f"{unit.name} failed on clips {ids[0]}..{ids[-1]}: {unit.error}", stacklevel=3)
                for text in unit.metric_failures.values():
                    warnings.warn(f"{unit.name}: {text}", stacklevel=3)
                rows += unit.score_rows(name_of_model, ids)
                failures += unit.error_rows(name_of_model, ids)
    finally:
        video_model.train(was_training)
    table = pd.DataFrame.from_records(rows, columns=SCORE_COLUMNS)
    table.attrs["errors"] = pd.DataFrame.from_records(failures, columns=ERROR_COLUMNS)
    return table


# ---------------------------------------------------------------- input checks (each names the bad argument)


def _check_model(model: Any) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module mapping clips (N, C, T, H, W) to logits (N, K); "
                        f"got {type(model).__name__}")


def _check_clips(clips: Any) -> int:
    if not isinstance(clips, torch.Tensor) or clips.dim() != 5 or not clips.is_floating_point():
        shape = tuple(clips.shape) if isinstance(clips, torch.Tensor) else type(clips).__name__
        dtype = f" {clips.dtype}" if isinstance(clips, torch.Tensor) else ""
        raise ValueError(f"clips must be a float tensor (N, C, T, H, W); got{dtype} {shape}")
    if clips.shape[0] == 0 or any(s == 0 for s in clips.shape[1:]):
        raise ValueError(f"clips must not be empty; got shape {tuple(clips.shape)}")
    bad = int((~torch.isfinite(clips)).sum())
    if bad:
        raise ValueError(f"clips hold {bad} NaN or inf values; every value must be finite")
    return int(clips.shape[0])


def _check_clip_ids(clip_ids: Optional[Sequence[str]], n: int) -> list[str]:
    if clip_ids is None:
        return [str(i) for i in range(n)]
    if isinstance(clip_ids, (str, bytes)):
        raise ValueError(f"clip_ids must be a sequence of {n} names, not one string")
    ids = [str(c) for c in clip_ids]
    if len(ids) != n:
        raise ValueError(f"clip_ids: got {len(ids)} names for {n} clips")
    repeated = sorted({c for c in ids if ids.count(c) > 1})
    if repeated:
        raise ValueError(f"clip_ids must be unique; repeated: {repeated[:3]}")
    return ids


def _as_tensor(name: str, value: Any) -> torch.Tensor:
    try:
        return value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{name} must be a tensor or array; got {type(value).__name__} ({err})") from None


def _check_classes(name: str, value: Any, n: int) -> torch.Tensor:
    """(n,) integer class indices >= 0 (the upper bound is checked against the model's logits)."""
    tensor = _as_tensor(name, value)
    if tuple(tensor.shape) != (n,):
        raise ValueError(f"{name} must have shape ({n},), one class per clip; got {tuple(tensor.shape)}")
    if tensor.is_complex() or tensor.dtype == torch.bool or (
            tensor.is_floating_point() and not bool((torch.isfinite(tensor) & (tensor == tensor.round())).all())):
        raise ValueError(f"{name} must be integer class indices; got {tensor.dtype} values "
                         f"{tensor.reshape(-1)[:4].tolist()}")
    tensor = tensor.long().cpu()
    if bool((tensor < 0).any()):
        raise ValueError(f"{name} must be class indices >= 0; got {int(tensor.min())}")
    return tensor


def _check_truth(name: str, value: Any, shape: tuple[int, ...]) -> torch.Tensor:
    """Ground truth (masks or windows) of ``shape``: boolean, or numbers that are all 0 or 1."""
    tensor = _as_tensor(name, value)
    if tuple(tensor.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}; got {tuple(tensor.shape)}")
    if tensor.is_complex():
        raise ValueError(f"{name} must be boolean (or 0/1); got dtype {tensor.dtype}")
    if tensor.dtype != torch.bool and not bool(((tensor == 0) | (tensor == 1)).all()):
        odd = tensor[~((tensor == 0) | (tensor == 1))].reshape(-1)[:3].tolist()
        raise ValueError(f"{name} must be boolean (or hold only 0 and 1); got values such as {odd}")
    return tensor.float().cpu()


@torch.no_grad()
def _check_prior(value: Any, frames: int) -> torch.Tensor:
    prior = _as_tensor("window_prior", value)
    if prior.shape != (frames,) or not prior.is_floating_point() or not bool(((prior >= 0) & (prior <= 1)).all()):
        raise ValueError(f"window_prior must be a float tensor of shape ({frames},) with values in [0, 1]; got "
                         f"{prior.dtype} {tuple(prior.shape)}")
    return prior.float()


def _check_in_range(video_model: nn.Module, clips: torch.Tensor, classes: Mapping[str, Optional[torch.Tensor]]) -> None:
    """Every target / label is below the model's number of classes K (one forward pass of one clip)."""
    device = next((p.device for p in video_model.parameters()), torch.device("cpu"))
    with preserved_state(video_model):
        logits = video_model(clips[:1].to(device)).logits
    k = int(logits.shape[-1])
    for name, value in classes.items():
        if value is not None and bool((value >= k).any()):
            raise ValueError(f"{name} must be class indices in [0, {k - 1}] for a model with {k} classes; "
                             f"got {int(value.max())}")


def _chosen_methods(methods: Sequence[str], arch: str, masks: Optional[torch.Tensor],
                    windows: Optional[torch.Tensor]) -> list[str]:
    """The methods to run; a named method that does not apply to the model, or needs ground truth that was not
    given, is left out with a warning (``all`` leaves them out silently)."""
    chosen = baselines.select_methods(methods, arch)
    named = [m for m in methods if m != baselines.ALL]
    skipped = [m for m in named if m not in chosen]
    if skipped:
        warnings.warn(f"methods {skipped} do not apply to this model (architecture '{arch}'); they are left out. "
                      "See stabn_bench.available_methods(arch)", stacklevel=3)
    given = {"evidence": masks is not None, "action_window": windows is not None}
    blind = [m for m in chosen if not all(given.get(k, False) for k in baselines.get_method(m).needs)]
    if blind:
        if any(m in named for m in blind):
            warnings.warn(f"methods {[m for m in blind if m in named]} need ground truth (masks= / windows=) that "
                          "was not given; they are left out", stacklevel=3)
        chosen = [m for m in chosen if m not in blind]
    return chosen


@contextlib.contextmanager
def _handed_back(model: nn.Module):
    """Hand ``model`` back exactly as it came: train/eval flags, weights and buffers, ``requires_grad``."""
    modes = [(module, module.training) for module in model.modules()]
    grads = [(param, param.requires_grad) for param in model.parameters()]
    saved = [(t, t.detach().clone()) for t in (*model.parameters(), *model.buffers())]
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training
        with torch.no_grad():
            for tensor, value in saved:
                if tensor.shape == value.shape:
                    tensor.copy_(value)
        for param, requires_grad in grads:
            param.requires_grad_(requires_grad)


def summarise(scores: pd.DataFrame, confidence: float = 0.95, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Mean and bootstrap confidence interval (BCa, ``scipy.stats.bootstrap``) per model x method x metric of a
    long score table (:func:`evaluate`'s result or a ``scores.csv``): the numbers of ``summary.csv``."""
    from stabn_bench.benchmark.report.tables import summary_table

    return summary_table(scores, confidence, n_resamples, seed)


def paired_tests(scores: pd.DataFrame) -> pd.DataFrame:
    """Wilcoxon signed-rank tests between every pair of methods, Holm-corrected per model and metric (the
    numbers of ``paired_tests.csv``)."""
    from stabn_bench.metrics.statistics import all_paired_tests

    return all_paired_tests(scores, MODEL_LEVEL)


__all__ = ["AnyVideoModel", "ConfigError", "evaluate", "find_gradcam_layer", "paired_tests", "summarise"]
