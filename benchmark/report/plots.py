"""Figures drawn from the result tables alone, at print size (:mod:`.style`), without titles (captions go to a
``.txt`` beside each figure).

- :func:`curve_figure` — deletion / insertion (and frame-level) curves as small multiples: a row per model, a
  column per method family; the controls / oracles and the random-order reference curve in every panel;
- :func:`metric_figure` — one score per method with its CI, a panel per model (x shared across models);
- :func:`temporal_figure` — mean normalised per-frame importance against the ground-truth window, small multiples;
- :func:`overlay_figure` — frame strips of one clip: a strip per method, evidence outlined.

Accuracy is a table (LaTeX / HTML), not a figure. :func:`draw_figures` draws every figure the tables allow.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from stabn_bench.metrics.catalog import CURVES, GRANULARITIES
from stabn_bench.metrics.statistics import bootstrap_ci_columns

from .files import MODEL_LEVEL_METHOD, Overlay, Results, file_stems, read_overlay
from .groups import method_order
from .style import (
    DOUBLE_COLUMN, FAMILY_LABELS, FAMILY_ORDER, REFERENCE_KINDS, REFERENCE_STYLE, SINGLE_COLUMN, MethodStyle,
    apply_style, family_order, family_rank, method_kind, method_styles, metric_label, plt, robust_normalise, save_figure,
)
from .tables import sort_metrics, split_variant

#: points of the common fraction grid that per-clip curves are interpolated onto before averaging
GRID_POINTS = 51
#: an offset from the window start is drawn when at least this share of the clips has a frame there
MIN_CLIP_SHARE = 0.25
#: frames shown per clip in an overlay strip
OVERLAY_FRAMES = 6
#: height in inches of one row of small multiples
PANEL_HEIGHT = 1.35
#: x labels of the curve panels (short: one under every column)
CURVE_LABELS = {
    "deletion": "share removed",
    "insertion": "share inserted",
    "frame_deletion": "share of frames removed",
    "frame_insertion": "share of frames inserted",
}


def curve_matrix(curves: pd.DataFrame, grid: np.ndarray) -> np.ndarray:
    """Per-clip curves (rows of one model / method / curve) interpolated onto ``grid``: (n_clips, len(grid)).
    Several rows of a clip at one fraction (e.g. several seeds) are averaged."""
    rows = []
    for _, clip in curves.groupby("clip_id", sort=True):
        clip = clip.groupby("fraction", sort=True)["score"].mean()
        rows.append(np.interp(grid, clip.index.to_numpy(float), clip.to_numpy(float)))
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
    """Mean over clips of a reference curve (e.g. random order): per clip averaged over the methods that carry it
    (one, ``"-"``, in what the pipeline writes; older runs stored it with every method)."""
    per_method = [pd.DataFrame(curve_matrix(part, grid), index=sorted(part["clip_id"].unique()))
                  for _, part in rows.groupby("method")]
    return pd.concat(per_method).groupby(level=0).mean().to_numpy().mean(axis=0)


def families_of(methods: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(panel families, reference methods)``: the families that get a panel (every kind present but the reference
    kinds, in :data:`FAMILY_ORDER`; just ``control`` when nothing else is there) and the methods drawn in every panel."""
    kinds = {m: method_kind(m) for m in methods}
    references = [m for m in method_order(methods) if kinds[m] in REFERENCE_KINDS]
    families = sorted({k for k in kinds.values() if k not in REFERENCE_KINDS}, key=family_rank)
    return (families or ["control"]), references


def _grid(n_rows: int, n_cols: int, sharex=True, sharey=True, width: float | None = None,
          row_height: float = PANEL_HEIGHT, extra: float = 0.55) -> tuple[plt.Figure, np.ndarray]:
    width = width or (SINGLE_COLUMN if n_cols == 1 else DOUBLE_COLUMN)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(width, row_height * n_rows + extra), sharex=sharex,
                             sharey=sharey, squeeze=False, layout="constrained")
    return fig, axes


def _legend(fig: plt.Figure, methods: Sequence[str], styles: dict[str, MethodStyle], reference: bool = False,
            width: float = DOUBLE_COLUMN) -> None:
    """One legend for the whole figure, below the panels (never over the data)."""
    handles = [plt.Line2D([], [], label=m, **styles[m].line_kwargs()) for m in methods]
    if reference:
        handles.append(plt.Line2D([], [], **REFERENCE_STYLE))
    ncol = max(1, min(len(handles), int(width / 1.25)))
    fig.legend(handles=handles, loc="outside lower center", ncol=ncol, handlelength=2.4, columnspacing=1.0)


def _label_grid(axes: np.ndarray, models: Sequence[str], families: Sequence[str], ylabel: str, xlabel: str) -> None:
    for j, family in enumerate(families):
        axes[0, j].set_title(FAMILY_LABELS.get(family, family))
        axes[-1, j].set_xlabel(xlabel)
    for i, model in enumerate(models):
        axes[i, 0].set_ylabel(model)
    axes[0, 0].figure.supylabel(ylabel, fontsize=axes[0, 0].yaxis.label.get_fontsize())


def curve_figure(curves: pd.DataFrame, curve: str, styles: dict[str, MethodStyle], confidence: float = 0.95,
                 n_resamples: int = 1000, seed: int = 0, reference: pd.DataFrame | None = None) -> plt.Figure:
    """Mean curve per method with its bootstrap CI band (over clips); a row per model, a column per family, the
    controls / oracles (no band) and the random-order ``reference`` rows (black dotted) in every panel."""
    rows = curves[(curves["metric"] == curve) & (curves["method"] != MODEL_LEVEL_METHOD)]
    base = parse_curve(curve)[0]
    models = sorted(set(rows["model"].unique()))
    families, references = families_of(sorted(set(rows["method"].unique())))
    grid = np.linspace(0.0, 1.0, GRID_POINTS)
    fig, axes = _grid(len(models), len(families))
    mark = max(1, GRID_POINTS // 5)
    shown: set[str] = set()
    for i, model in enumerate(models):
        part = rows[rows["model"] == model]
        stats = {}
        for method in set(part["method"].unique()):
            matrix = curve_matrix(part[part["method"] == method], grid)
            stats[method] = bootstrap_ci_columns(matrix, confidence, n_resamples, seed)
        ref = None
        if reference is not None and (reference["model"] == model).any():
            ref = reference_mean(reference[reference["model"] == model], grid)
        for j, family in enumerate(families):
            ax = axes[i, j]
            members = [m for m in method_order(stats) if method_kind(m) == family and m not in references]
            for method in [*members, *[m for m in references if m in stats]]:
                mean, low, high = stats[method]
                style = styles[method]
                ax.plot(grid, mean, markevery=(j % mark, mark), **style.line_kwargs())
                if method in members:
                    ax.fill_between(grid, low, high, color=style.colour, alpha=0.15, lw=0)
                shown.add(method)
            if ref is not None:
                ax.plot(grid, ref, **REFERENCE_STYLE)
            ax.set_xlim(0, 1)
            ax.set_xticks([0, 0.5, 1], ["0", "0.5", "1"])
    _label_grid(axes, models, families, "target probability", CURVE_LABELS.get(base, "share changed"))
    _legend(fig, family_order(shown), styles, reference=reference is not None, width=fig.get_figwidth())
    return fig


def curve_caption(curve: str, confidence: float, has_reference: bool) -> str:
    base, order, granularity = parse_curve(curve)
    what = {"deletion": "Deletion", "insertion": "Insertion", "frame_deletion": "Frame deletion",
            "frame_insertion": "Frame insertion"}.get(base, base.replace("_", " ").capitalize())
    details = ", ".join(x for x in ("least relevant first" if order == "lerf" else "most relevant first",
                                    f"{granularity} granularity" if granularity else "") if x)
    text = (f"{what} curves ({details}): target probability against the fraction of the input changed; mean over "
            f"the explained test clips with its {int(confidence * 100)}% bootstrap CI band. Rows: models; columns: "
            "method families; control (dashed) and oracle (dash-dotted) methods are repeated in every panel")
    return text + (", and the black dotted line is the random-order curve." if has_reference else ".")


def metric_figure(summary: pd.DataFrame, metrics: Sequence[str], styles: dict[str, MethodStyle]) -> plt.Figure:
    """Mean and CI per method (a marker with horizontal error bars): a row of panels per metric variant, a column
    per model; the x axis is shared across models (the values are comparable)."""
    rows = summary[summary["metric"].isin(metrics) & (summary["method"] != MODEL_LEVEL_METHOD)]
    models = sorted(set(rows["model"].unique()))
    methods = family_order(set(rows["method"].unique()))
    fig, axes = _grid(len(metrics), len(models), sharex="row", sharey=True,
                      row_height=0.13 * len(methods) + 0.35, extra=0.2)
    for i, metric in enumerate(metrics):
        for j, model in enumerate(models):
            ax = axes[i, j]
            part = rows[(rows["model"] == model) & (rows["metric"] == metric)].set_index("method")
            for y, method in enumerate(methods):
                if method not in part.index:
                    continue
                r = part.loc[method]
                err = np.array([[r["mean"] - r["ci_low"]], [r["ci_high"] - r["mean"]]])
                style = styles[method]
                ax.errorbar(r["mean"], y, xerr=np.nan_to_num(np.abs(err)), fmt=style.marker, color=style.colour,
                            capsize=1.5, ms=3.5, lw=0.8, elinewidth=0.8)
            ax.set_yticks(range(len(methods)), methods)
            ax.set_ylim(len(methods) - 0.5, -0.5)
            ax.grid(axis="y", visible=False)
            ax.set_xlabel(metric_label(metric))
            if i == 0:
                ax.set_title(model)
    return fig


def align_to_window(temporal: pd.DataFrame) -> pd.DataFrame:
    """Add ``offset`` = frame - first in-window frame of the clip (frame itself where no window is known)."""
    starts = temporal[temporal["in_window"] > 0.5].groupby(["model", "method", "clip_id"])["frame"].min().rename("start")
    out = temporal.join(starts, on=["model", "method", "clip_id"])
    out["offset"] = out["frame"] - out["start"].fillna(0)
    return out


def temporal_figure(temporal: pd.DataFrame, styles: dict[str, MethodStyle], confidence: float = 0.95,
                    n_resamples: int = 1000, seed: int = 0) -> plt.Figure:
    """Mean normalised importance vs frame offset from the window start (CI band), window shaded; a row per model,
    a column per family, controls / oracles in every panel.

    The shading's opacity is the share of clips whose window covers that offset, so windows of varying length
    read correctly; offsets present in fewer than ``MIN_CLIP_SHARE`` of the clips are left out. Without a known
    window the x axis is the frame index and nothing is shaded.
    """
    has_window = temporal["in_window"].notna().any()
    data = align_to_window(temporal) if has_window else temporal.assign(offset=temporal["frame"])
    models = sorted(set(data["model"].unique()))
    families, references = families_of(sorted(set(data["method"].unique())))
    fig, axes = _grid(len(models), len(families))
    shown: set[str] = set()
    for i, model in enumerate(models):
        part = data[data["model"] == model]
        coverage = part.groupby("offset")["in_window"].mean() if has_window else pd.Series(dtype=float)
        stats = {}
        for method in set(part["method"].unique()):
            wide = part[part["method"] == method].pivot_table(index="clip_id", columns="offset", values="importance")
            # offsets far from the window exist in few clips only; their means are noise
            wide = wide.loc[:, wide.notna().sum() >= max(2, MIN_CLIP_SHARE * len(wide))]
            stats[method] = (wide.columns.to_numpy(float),
                             *bootstrap_ci_columns(wide.to_numpy(float), confidence, n_resamples, seed))
        for j, family in enumerate(families):
            ax = axes[i, j]
            for offset, share in coverage.items():
                if share > 0:
                    ax.axvspan(offset - 0.5, offset + 0.5, color="#f2c14e", alpha=0.4 * share, lw=0)
            members = [m for m in method_order(stats) if method_kind(m) == family and m not in references]
            for method in [*members, *[m for m in references if m in stats]]:
                x, mean, low, high = stats[method]
                ax.plot(x, mean, **styles[method].line_kwargs())
                if method in members:
                    ax.fill_between(x, low, high, color=styles[method].colour, alpha=0.15, lw=0)
                shown.add(method)
            ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True, nbins=4))
    _label_grid(axes, models, families, "frame importance",
                "frames from window start" if has_window else "frame")
    _legend(fig, family_order(shown), styles, width=fig.get_figwidth())
    return fig


def _normalise(values: np.ndarray) -> np.ndarray:
    """Over the whole clip (T, H, W), so that differences between frames stay visible: robust percentile
    normalisation (:func:`~.style.robust_normalise`)."""
    return robust_normalise(values)


def _strip(images: np.ndarray, gap: int, fill: float) -> np.ndarray:
    """Images (F, H, W[, C]) side by side with ``gap`` columns of ``fill`` between them: (H, F*W + (F-1)*gap[, C])."""
    pad = np.full((images.shape[1], gap, *images.shape[3:]), fill, dtype=images.dtype)
    parts = []
    for i, image in enumerate(images):
        parts += [image] if i == 0 else [pad, image]
    return np.concatenate(parts, axis=1)


def class_name(meta: dict) -> str | None:
    """The clip's class name from an overlay's meta (``class``), else ``class <label>``; None when unknown."""
    if meta.get("class"):
        return str(meta["class"])
    label = meta.get("label")
    return None if label is None else f"class {label}"


def overlay_frames(t: int, n_frames: int = OVERLAY_FRAMES) -> np.ndarray:
    return np.unique(np.linspace(0, t - 1, min(n_frames, t)).round().astype(int))


def overlay_figure(overlay: Overlay, model: str, methods: Sequence[str], n_frames: int = OVERLAY_FRAMES) -> plt.Figure:
    """Frame strips of one clip for one model, in two columns of strips: first the frames, then one strip per
    method with its map (normalised over the clip) over the frames; the evidence mask outlined in cyan."""
    t, _, w = overlay.frames.shape[:3]
    frames = overlay_frames(t, n_frames)
    gap = max(1, w // 16)
    rows = ["frames", *methods]
    frame_strip = _strip(overlay.frames[frames], gap, 255)
    evidence = None
    if overlay.evidence is not None and overlay.evidence[frames].max() > 0.5:
        evidence = _strip(overlay.evidence[frames].astype(float), gap, 0.0)
    n_cols = 2 if len(rows) > 4 else 1
    n_rows = -(-len(rows) // n_cols)
    width = DOUBLE_COLUMN if n_cols == 2 else SINGLE_COLUMN
    label_w = 1.3  # inches left of each strip for the method name
    strip_w = width / n_cols - label_w - 0.05
    strip_h = strip_w * frame_strip.shape[0] / frame_strip.shape[1]
    height = (strip_h + 0.08) * n_rows + 0.25
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(width, height), squeeze=False,
                             gridspec_kw=dict(hspace=0.08 / strip_h, wspace=label_w / strip_w, left=label_w / width,
                                              right=1 - 0.05 / width, top=1 - 0.22 / height, bottom=0.03 / height))
    centres = np.arange(len(frames)) * (w + gap) + (w - 1) / 2
    for k, ax in enumerate(axes.T.reshape(-1)):  # fill column by column
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        if k >= len(rows):
            ax.axis("off")
            continue
        row = rows[k]
        ax.imshow(frame_strip)
        if row != "frames":
            ax.imshow(_strip(_normalise(overlay.maps[(model, row)])[frames], gap, np.nan),
                      cmap="inferno", alpha=0.55, vmin=0, vmax=1)
        if evidence is not None:
            ax.contour(evidence, levels=[0.5], colors="#00e5ff", linewidths=0.6)
        ax.set_ylabel(row, rotation=0, ha="right", va="center")
        if k % n_rows == 0:
            ax.set_xticks(centres, [f"t={f}" for f in frames])
            ax.xaxis.tick_top()
            ax.tick_params(length=0, pad=1)
    return fig


def overlay_caption(overlay: Overlay, model: str, has_evidence: bool) -> str:
    name = class_name(overlay.meta)
    prediction = overlay.meta.get(f"prediction/{model}")
    text = f"Clip {overlay.clip_id}" + (f" (class: {name})" if name else "")
    if prediction is not None:
        text += f"; {model} predicts class {prediction}"
    text += (f". Top: the frames; then each method's map for {model}, normalised over the clip (1st-99th percentile, clipped), over the "
             "frames (inferno colour map)")
    return text + ("; the ground-truth evidence is outlined in cyan." if has_evidence else ".")


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
    workers: int = 1,
) -> list[Path]:
    """Draw every figure the run's tables allow into ``out_dir`` (each with a ``.txt`` caption); returns the
    figure files.

    ``methods`` restricts every figure to those methods; ``metrics`` restricts the score figures and the curves
    (a curve is kept when its name or ``<name>_auc`` is listed). ``workers`` > 1 draws the figures in that many
    forked processes (each figure is drawn and saved by one of them; the files are the same as with one).
    """
    jobs = figure_jobs(results, summary, Path(out_dir), formats, methods, metrics, confidence, n_resamples, seed,
                       max_overlays)
    return run_figure_jobs(jobs, workers)


#: one figure to draw: ``() -> written paths``
FigureJob = Callable[[], list[Path]]
#: the jobs of the current :func:`run_figure_jobs` call, read by the forked processes
_JOBS: list[FigureJob] = []


def _run_job(index: int) -> list[Path]:
    apply_style()
    return _JOBS[index]()


def run_figure_jobs(jobs: Sequence[FigureJob], workers: int = 1) -> list[Path]:
    """Run the figure jobs in order, or spread over ``workers`` forked processes where the platform forks (the
    jobs' inputs are inherited, not pickled); the written paths in job order."""
    import multiprocessing

    apply_style()
    if workers <= 1 or len(jobs) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [path for job in jobs for path in job()]
    from concurrent.futures import ProcessPoolExecutor

    global _JOBS
    _JOBS = list(jobs)
    try:
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=multiprocessing.get_context("fork")) as pool:
            return [path for paths in pool.map(_run_job, range(len(jobs))) for path in paths]
    finally:
        _JOBS = []


def figure_jobs(
    results: Results,
    summary: pd.DataFrame,
    out_dir: Path,
    formats: Sequence[str],
    methods: Sequence[str] | None,
    metrics: Sequence[str] | None,
    confidence: float,
    n_resamples: int,
    seed: int,
    max_overlays: int,
) -> list[FigureJob]:
    """One job per figure of :func:`draw_figures` (same arguments), in the order they are written."""
    chosen = set(methods) if methods is not None else None

    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        return frame if chosen is None else frame[frame["method"].isin(chosen | {MODEL_LEVEL_METHOD})]

    styles = method_styles(results.methods)
    jobs: list[FigureJob] = []
    level = int(confidence * 100)

    curves = keep(results.curves)
    present = set(curves["metric"].unique())
    drawn = [c for c in sorted(present, key=_curve_sort_key) if parse_curve(c)[1] != "random"
             and (curves.loc[curves["metric"] == c, "method"] != MODEL_LEVEL_METHOD).any()]
    if metrics is not None:
        drawn = [c for c in drawn if c in metrics or curve_auc_metric(c) in metrics]
    curve_stems = file_stems(drawn)

    def curve_job(curve: str) -> list[Path]:
        base, order, granularity = parse_curve(curve)
        random_name = curve_name(base, "random", granularity)
        reference = results.curves[results.curves["metric"] == random_name] if order == "" and random_name in present else None
        fig = curve_figure(curves, curve, styles, confidence, n_resamples, seed, reference)
        return save_figure(fig, out_dir, f"curve_{curve_stems[curve]}", formats,
                           curve_caption(curve, confidence, reference is not None))

    jobs += [functools.partial(curve_job, curve) for curve in drawn]

    scores_summary = keep(summary[summary["method"] != MODEL_LEVEL_METHOD])
    names = sort_metrics(scores_summary["metric"].unique())
    if metrics is not None:
        names = [m for m in names if m in metrics]
    groups: dict[str, list[str]] = {}
    for metric in names:  # a metric and its granularity variants share one figure
        groups.setdefault(split_variant(metric)[0], []).append(metric)
    metric_stems = file_stems(groups)

    def metric_job(base: str, group: list[str]) -> list[Path]:
        fig = metric_figure(scores_summary, group, styles)
        caption = (f"{metric_label(base, arrow=False)} per method and model: mean over the explained test clips with "
                   f"its {level}% bootstrap CI (arrow: the better direction). Panels of a row share the x axis.")
        return save_figure(fig, out_dir, f"metric_{metric_stems[base]}", formats, caption)

    jobs += [functools.partial(metric_job, base, group) for base, group in groups.items()]

    if metrics is None:  # the agreement of the headline metrics (a selection of metrics draws no agreement)
        def agreement_job() -> list[Path]:
            from .agreement import agreement_table, write_agreement_figure

            return write_agreement_figure(agreement_table(keep(results.scores)), out_dir, formats)

        jobs.append(agreement_job)

    temporal = keep(results.temporal)
    if not temporal.empty:
        def temporal_job() -> list[Path]:
            fig = temporal_figure(temporal, styles, confidence, n_resamples, seed)
            caption = (f"Per-frame importance (min-max normalised per clip) against the frame offset from the start of "
                       f"the ground-truth action window (shaded; opacity = share of clips whose window covers the "
                       f"offset); mean with its {level}% bootstrap CI band. Rows: models; columns: method families.")
            return save_figure(fig, out_dir, "temporal_importance", formats, caption)

        jobs.append(temporal_job)

    def overlay_job(path: Path, model: str, stem: str, shown: list[str]) -> list[Path]:
        overlay = read_overlay(path)
        fig = overlay_figure(overlay, model, shown)
        has_evidence = overlay.evidence is not None and overlay.evidence.max() > 0.5
        return save_figure(fig, out_dir, f"overlay_{path.stem}_{stem}", formats,
                           overlay_caption(overlay, model, has_evidence))

    for path in results.overlays[:max_overlays]:
        overlay = read_overlay(path)
        model_stems = file_stems({model for model, _ in overlay.maps})
        for model in sorted({model for model, _ in overlay.maps}):
            shown = family_order([m for (mo, m) in overlay.maps if mo == model and (chosen is None or m in chosen)])
            if shown:
                jobs.append(functools.partial(overlay_job, path, model, model_stems[model], shown))
    return jobs


__all__ = ["draw_figures", "figure_jobs", "run_figure_jobs", "curve_figure", "metric_figure", "temporal_figure", "overlay_figure", "curve_matrix",
           "parse_curve", "curve_name", "curve_auc_metric", "align_to_window", "class_name", "FAMILY_ORDER"]
