"""Figures drawn from the result tables alone: one function per figure kind, one colour per method.

- :func:`curve_figure` — deletion / insertion (and frame-level) curves: mean with CI band per method, panel per model,
  the random-order curve as a dotted reference;
- :func:`metric_figure` — one score per method with its CI, panel per model (a row per granularity variant);
- :func:`temporal_figure` — mean normalised per-frame importance against the ground-truth action window;
- :func:`overlay_figure` — frame strips of one clip: rows = methods, columns = frames, evidence outlined;
- :func:`accuracy_figure` — the accuracy table as a figure.

:func:`draw_figures` draws every figure the tables allow and returns the written paths.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from stabn_bench.metrics.catalog import CURVES, GRANULARITIES, METRICS
from stabn_bench.metrics.statistics import bootstrap_ci_columns

from .files import MODEL_LEVEL_METHOD, Overlay, Results, read_overlay, safe_name
from .groups import method_order
from .style import apply_style, method_linestyle, method_linewidth, method_palette, plt, save_figure
from .tables import metric_header, sort_metrics, split_variant

#: inches added to a figure's width for the method legend on its right
LEGEND_WIDTH = 1.9
#: the random-order reference line of the curve figures
REFERENCE_STYLE = dict(color="black", linestyle=":", lw=1.6, label="random order")
#: points of the common fraction grid that per-clip curves are interpolated onto before averaging
GRID_POINTS = 51
#: an offset from the window start is drawn when at least this share of the clips has a frame there
MIN_CLIP_SHARE = 0.25
#: frames shown per clip in an overlay strip
OVERLAY_FRAMES = 8
CURVE_LABELS = {
    "deletion": "fraction of the input removed",
    "insertion": "fraction of the input inserted",
    "frame_deletion": "fraction of frames removed",
    "frame_insertion": "fraction of frames inserted",
}


def _panels(n: int, width: float = 4.2, height: float = 3.4, legend: bool = True) -> tuple[plt.Figure, np.ndarray]:
    """A row of ``n`` panels sharing the y axis, with room on the right for a figure legend."""
    size = (width * n + (LEGEND_WIDTH if legend else 0.0), height)
    fig, axes = plt.subplots(1, n, figsize=size, sharey=True, squeeze=False, layout="constrained")
    return fig, axes[0]


def _legend(fig: plt.Figure, methods: Sequence[str], palette: dict, reference: bool = False) -> None:
    """One legend for the whole figure, to the right of the panels (never over the data)."""
    handles = [plt.Line2D([], [], color=palette[m], linestyle=method_linestyle(m), lw=method_linewidth(m), label=m)
               for m in methods]
    if reference:
        handles.append(plt.Line2D([], [], **REFERENCE_STYLE))
    fig.legend(handles=handles, loc="outside right center", title="method")


def curve_matrix(curves: pd.DataFrame, grid: np.ndarray) -> np.ndarray:
    """Per-clip curves (rows of one model / method / curve) interpolated onto ``grid``: (n_clips, len(grid))."""
    rows = []
    for _, clip in curves.groupby("clip_id", sort=True):
        clip = clip.sort_values("fraction", kind="stable")
        rows.append(np.interp(grid, clip["fraction"].to_numpy(float), clip["score"].to_numpy(float)))
    return np.vstack(rows) if rows else np.empty((0, len(grid)))


def parse_curve(curve: str) -> tuple[str, str, str | None]:
    """``"deletion_random_voxel"`` -> ``("deletion", "random", "voxel")``: base curve, order (``""`` = most
    relevant first, ``lerf``, ``random``) and granularity suffix (None = the configured first granularity)."""
    granularity = next((g for g in GRANULARITIES if curve.endswith(f"_{g}")), None)
    rest = curve[: -len(granularity) - 1] if granularity else curve
    order = next((o for o in ("lerf", "random") if rest.endswith(f"_{o}")), "")
    return (rest[: -len(order) - 1] if order else rest), order, granularity


def curve_name(base: str, order: str = "", granularity: str | None = None) -> str:
    return base + (f"_{order}" if order else "") + (f"_{granularity}" if granularity else "")


def curve_auc_metric(curve: str) -> str:
    """The score summarising a curve: ``deletion_voxel`` -> ``deletion_auc_voxel``, ``deletion_lerf`` -> ``lerf_minus_morf``."""
    base, order, granularity = parse_curve(curve)
    name = "lerf_minus_morf" if order == "lerf" else f"{base}_auc_vs_random" if order == "random" else f"{base}_auc"
    return curve_name(name, "", granularity)


def reference_mean(rows: pd.DataFrame, grid: np.ndarray) -> np.ndarray:
    """Mean over clips of a reference curve (e.g. random order) stored once per method: methods averaged per clip."""
    per_method = [pd.DataFrame(curve_matrix(part, grid), index=sorted(part["clip_id"].unique()))
                  for _, part in rows.groupby("method")]
    return pd.concat(per_method).groupby(level=0).mean().to_numpy().mean(axis=0)


def curve_figure(curves: pd.DataFrame, curve: str, palette: dict, confidence: float = 0.95,
                 n_resamples: int = 1000, seed: int = 0, reference: pd.DataFrame | None = None) -> plt.Figure:
    """Mean curve per method with its bootstrap CI band (over clips); one panel per model. ``curves``: curves.csv
    rows; ``reference``: rows of the random-order curve, drawn as one black dotted line per model."""
    rows = curves[curves["metric"] == curve]
    base, order, granularity = parse_curve(curve)
    models = sorted(set(rows["model"].unique()))
    grid = np.linspace(0.0, 1.0, GRID_POINTS)
    fig, axes = _panels(len(models))
    shown = set()
    for ax, model in zip(axes, models):
        part = rows[rows["model"] == model]
        for method in method_order(set(part["method"].unique())):
            matrix = curve_matrix(part[part["method"] == method], grid)
            mean, low, high = bootstrap_ci_columns(matrix, confidence, n_resamples, seed)
            colour = palette[method]
            ax.plot(grid, mean, color=colour, linestyle=method_linestyle(method), lw=method_linewidth(method))
            ax.fill_between(grid, low, high, color=colour, alpha=0.18, lw=0)
            shown.add(method)
        if reference is not None and (reference["model"] == model).any():
            ax.plot(grid, reference_mean(reference[reference["model"] == model], grid), **REFERENCE_STYLE)
        ax.set_title(model)
        ax.set_xlabel(CURVE_LABELS.get(base, "fraction changed"))
        ax.set_xlim(0, 1)
    axes[0].set_ylabel("target probability")
    details = ", ".join(x for x in ("least relevant first" if order == "lerf" else "",
                                    f"{granularity} granularity" if granularity else "") if x)
    fig.suptitle(f"{base.replace('_', ' ')} curves{f' ({details})' if details else ''}: mean, "
                 f"{int(confidence * 100)}% CI")
    _legend(fig, method_order(shown), palette, reference=reference is not None)
    return fig


def metric_figure(summary: pd.DataFrame, metrics: Sequence[str], palette: dict) -> plt.Figure:
    """Mean and CI per method (points with horizontal error bars): one row of panels per metric (e.g. one metric
    at several granularities), one column per model."""
    rows = summary[summary["metric"].isin(metrics) & (summary["method"] != MODEL_LEVEL_METHOD)]
    models = sorted(set(rows["model"].unique()))
    methods = method_order(set(rows["method"].unique()))
    height = 0.3 * len(methods) + 0.9
    fig, axes = plt.subplots(len(metrics), len(models), figsize=(3.6 * len(models), height * len(metrics) + 0.5),
                             sharey=True, squeeze=False, layout="constrained")
    for i, metric in enumerate(metrics):
        for ax, model in zip(axes[i], models):
            part = rows[(rows["model"] == model) & (rows["metric"] == metric)].set_index("method")
            for y, method in enumerate(methods):
                if method not in part.index:
                    continue
                r = part.loc[method]
                err = np.array([[r["mean"] - r["ci_low"]], [r["ci_high"] - r["mean"]]])
                ax.errorbar(r["mean"], y, xerr=np.nan_to_num(err), fmt="o", color=palette[method], capsize=3, ms=6,
                            lw=1.5)
            ax.set_yticks(range(len(methods)), methods)
            ax.set_ylim(len(methods) - 0.5, -0.5)
            ax.set_xlabel(metric_header(metric))
            if i == 0:
                ax.set_title(model)
    info = METRICS.get(metrics[0])
    direction = f" ({'higher' if info.higher_is_better else 'lower'} is better)" if info else ""
    fig.suptitle(f"{split_variant(metrics[0])[0]}{direction}: mean and bootstrap CI over clips")
    return fig


def align_to_window(temporal: pd.DataFrame) -> pd.DataFrame:
    """Add ``offset`` = frame - first in-window frame of the clip (frame itself where no window is known)."""
    starts = temporal[temporal["in_window"] > 0.5].groupby(["model", "method", "clip_id"])["frame"].min().rename("start")
    out = temporal.join(starts, on=["model", "method", "clip_id"])
    out["offset"] = out["frame"] - out["start"].fillna(0)
    return out


def temporal_figure(temporal: pd.DataFrame, palette: dict, confidence: float = 0.95,
                    n_resamples: int = 1000, seed: int = 0) -> plt.Figure:
    """Mean normalised importance vs frame offset from the window start (CI band), window shaded; panel per model.

    The shading's opacity is the share of clips whose window covers that offset, so windows of varying length
    read correctly; offsets present in fewer than ``MIN_CLIP_SHARE`` of the clips are left out. Without a known
    window the x axis is the frame index and nothing is shaded.
    """
    has_window = temporal["in_window"].notna().any()
    data = align_to_window(temporal) if has_window else temporal.assign(offset=temporal["frame"])
    models = sorted(set(data["model"].unique()))
    fig, axes = _panels(len(models))
    shown = set()
    for ax, model in zip(axes, models):
        part = data[data["model"] == model]
        if has_window:
            coverage = part.groupby("offset")["in_window"].mean()
            for offset, share in coverage.items():
                if share > 0:
                    ax.axvspan(offset - 0.5, offset + 0.5, color="#f2c14e", alpha=0.45 * share, lw=0)
        for method in method_order(set(part["method"].unique())):
            wide = part[part["method"] == method].pivot_table(index="clip_id", columns="offset", values="importance")
            # offsets far from the window exist in few clips only; their means are noise
            wide = wide.loc[:, wide.notna().sum() >= max(2, MIN_CLIP_SHARE * len(wide))]
            mean, low, high = bootstrap_ci_columns(wide.to_numpy(float), confidence, n_resamples, seed)
            x = wide.columns.to_numpy(float)
            ax.plot(x, mean, color=palette[method], linestyle=method_linestyle(method), lw=method_linewidth(method),
                    marker=".", ms=4)
            ax.fill_between(x, low, high, color=palette[method], alpha=0.15, lw=0)
            shown.add(method)
        ax.set_title(model)
        ax.set_xlabel("frame relative to window start" if has_window else "frame")
    axes[0].set_ylabel("normalised frame importance")
    title = "per-frame importance vs ground-truth window (shaded)" if has_window else "per-frame importance"
    fig.suptitle(title)
    _legend(fig, method_order(shown), palette)
    return fig


def _normalise(values: np.ndarray) -> np.ndarray:
    """Min-max over the whole clip (T, H, W) so that differences between frames stay visible."""
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    return np.zeros_like(values) if high <= low else (values - low) / (high - low)


def _strip(images: np.ndarray, gap: int, fill: float) -> np.ndarray:
    """Images (F, H, W[, C]) side by side with ``gap`` columns of ``fill`` between them: (H, F*W + (F-1)*gap[, C])."""
    pad = np.full((images.shape[1], gap, *images.shape[3:]), fill, dtype=images.dtype)
    parts = []
    for i, image in enumerate(images):
        parts += [image] if i == 0 else [pad, image]
    return np.concatenate(parts, axis=1)


def overlay_figure(overlay: Overlay, model: str, methods: Sequence[str], n_frames: int = OVERLAY_FRAMES) -> plt.Figure:
    """Frame strip of one clip for one model: first row the frames, then one row per method with its map
    (normalised over the clip) over the frames; the evidence mask is outlined in every row.

    Each row is one image (frames side by side), so a strip of many methods stays quick to draw.
    """
    t, h, w = overlay.frames.shape[:3]
    frames = np.unique(np.linspace(0, t - 1, min(n_frames, t)).round().astype(int))
    gap = max(1, w // 16)
    rows = ["frames", *methods]
    frame_strip = _strip(overlay.frames[frames], gap, 255)
    evidence = None
    if overlay.evidence is not None and overlay.evidence[frames].max() > 0.5:
        evidence = _strip(overlay.evidence[frames].astype(float), gap, 0.0)
    centres = np.arange(len(frames)) * (w + gap) + (w - 1) / 2
    fig, axes = plt.subplots(len(rows), 1, figsize=(1.1 * len(frames) + 1.6, 1.1 * h / w * len(rows) + 0.6),
                             squeeze=False, gridspec_kw=dict(hspace=0.08))
    for ax, row in zip(axes[:, 0], rows):
        ax.imshow(frame_strip)
        if row != "frames":
            ax.imshow(_strip(_normalise(overlay.maps[(model, row)])[frames], gap, np.nan),
                      cmap="inferno", alpha=0.55, vmin=0, vmax=1)
        if evidence is not None:
            ax.contour(evidence, levels=[0.5], colors="#00e5ff", linewidths=0.9)
        ax.set_yticks([])
        ax.set_xticks([])
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(row, rotation=0, ha="right", va="center", fontsize=9)
    axes[0, 0].set_xticks(centres, [f"t={f}" for f in frames], fontsize=8)
    axes[0, 0].xaxis.tick_top()
    axes[0, 0].tick_params(length=0)
    label = overlay.meta.get("label")
    title = f"clip {overlay.clip_id} · {model}" + (f" · label {label}" if label is not None else "")
    axes[0, 0].set_title(title + (" · evidence outlined in cyan" if evidence is not None else ""), fontsize=10, pad=16)
    return fig


def accuracy_figure(accuracy: pd.DataFrame) -> plt.Figure:
    """The accuracy table (model, head, top-1, top-5, clips) drawn as a figure."""
    acc = accuracy.sort_values(["model", "head"], kind="stable")
    cells = [[r.model, r.head, f"{r.top1:.3f}", f"{r.top5:.3f}", f"{int(r.n_clips)}"] for r in acc.itertuples(index=False)]
    fig, ax = plt.subplots(figsize=(5.2, 0.32 * len(cells) + 0.7))
    ax.axis("off")
    table = ax.table(cellText=cells, colLabels=["model", "head", "top-1", "top-5", "clips"], loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.3)
    best1, best5 = acc["top1"].max(), acc["top5"].max()
    for i, r in enumerate(acc.itertuples(index=False), start=1):
        table[i, 2].get_text().set_fontweight("bold" if np.isclose(r.top1, best1) else "normal")
        table[i, 3].get_text().set_fontweight("bold" if np.isclose(r.top5, best5) else "normal")
    for j in range(5):
        table[0, j].get_text().set_fontweight("bold")
        table[0, j].set_facecolor("#e6e6e6")
    ax.set_title("accuracy (best in bold)")
    return fig


def _curve_sort_key(curve: str) -> tuple:
    base, order, granularity = parse_curve(curve)
    bases = [c for c in CURVES if parse_curve(c)[1] == ""]
    return (bases.index(base) if base in bases else len(bases), base, granularity or "", order)


def draw_figures(
    results: Results,
    summary: pd.DataFrame,
    out_dir: str | Path,
    formats: Sequence[str] = ("png", "pdf"),
    methods: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
    max_overlays: int = 4,
) -> list[Path]:
    """Draw every figure the run's tables allow into ``out_dir``; returns the written files.

    ``methods`` restricts every figure to those methods; ``metrics`` restricts the score figures and the curves
    (a curve is kept when its name or ``<name>_auc`` is listed).
    """
    apply_style()
    out_dir = Path(out_dir)
    chosen = set(methods) if methods is not None else None

    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        return frame if chosen is None else frame[frame["method"].isin(chosen)]

    palette = method_palette(results.methods)
    written: list[Path] = []

    if not results.accuracy.empty:
        written += save_figure(accuracy_figure(results.accuracy), out_dir, "accuracy", formats)

    curves = keep(results.curves)
    present = set(curves["metric"].unique())
    drawn = [c for c in sorted(present, key=_curve_sort_key) if parse_curve(c)[1] != "random"]
    if metrics is not None:
        drawn = [c for c in drawn if c in metrics or curve_auc_metric(c) in metrics]
    for curve in drawn:
        base, _, granularity = parse_curve(curve)
        random_name = curve_name(base, "random", granularity)
        reference = results.curves[results.curves["metric"] == random_name] if random_name in present else None
        fig = curve_figure(curves, curve, palette, confidence, n_resamples, seed, reference)
        written += save_figure(fig, out_dir, f"curve_{safe_name(curve)}", formats)

    scores_summary = keep(summary[summary["method"] != MODEL_LEVEL_METHOD])
    names = sort_metrics(scores_summary["metric"].unique())
    if metrics is not None:
        names = [m for m in names if m in metrics]
    groups: dict[str, list[str]] = {}
    for metric in names:  # a metric and its granularity variants share one figure
        groups.setdefault(split_variant(metric)[0], []).append(metric)
    for base, group in groups.items():
        fig = metric_figure(scores_summary, group, palette)
        written += save_figure(fig, out_dir, f"metric_{safe_name(base)}", formats)

    temporal = keep(results.temporal)
    if not temporal.empty:
        fig = temporal_figure(temporal, palette, confidence, n_resamples, seed)
        written += save_figure(fig, out_dir, "temporal_importance", formats)

    for path in results.overlays[:max_overlays]:
        overlay = read_overlay(path)
        for model in sorted({model for model, _ in overlay.maps}):
            shown = method_order(m for (mo, m) in overlay.maps if mo == model and (chosen is None or m in chosen))
            if shown:
                fig = overlay_figure(overlay, model, shown)
                written += save_figure(fig, out_dir, f"overlay_{safe_name(overlay.clip_id)}_{safe_name(model)}", formats)
    return written
