"""Metric agreement in the report: ``metric_agreement.csv``, its heat map per model, and the summary's sentences.

The math is :mod:`stabn_bench.metrics.agreement`; here the run's scores are read (with several training seeds, every
(clip, seed) pair is one sample), controls and oracles are left out (references, never ranked), and the result
is drawn.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from stabn_bench.metrics.agreement import STRONG_TAU, agreement_matrix, metric_agreement, strong_pairs

from .files import MODEL_LEVEL_METHOD
from .groups import is_control
from .style import metric_label, save_figure

FIGURE_STEM = "metric_agreement"


def agreement_table(scores: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """``model, metric_a, metric_b, kendall_tau, p_value, n_methods`` over the methods that are not references."""
    from .seeds import with_seed_in_clip_id

    scores = with_seed_in_clip_id(scores)
    exclude = sorted({m for m in scores["method"].unique() if is_control(m)} | {MODEL_LEVEL_METHOD})
    return metric_agreement(scores, metrics, exclude=exclude)


def agreement_figure(agreement: pd.DataFrame) -> plt.Figure | None:
    """One heat map of Kendall tau per model (diverging colours, -1 blue .. +1 red, the value in each cell)."""
    models = [m for m in sorted(agreement["model"].unique()) if len(agreement_matrix(agreement, m)) >= 2]
    if not models:
        return None
    size = max(len(agreement_matrix(agreement, m)) for m in models)
    side = 0.16 * size + 0.6  # inches per panel
    fig, axes = plt.subplots(1, len(models), figsize=(side * len(models) + 2.2, side + 1.9), squeeze=False)
    image = None
    for k, (ax, model) in enumerate(zip(axes[0], models)):
        matrix = agreement_matrix(agreement, model)
        values = matrix.to_numpy(dtype=float)
        image = ax.imshow(np.ma.masked_invalid(values), cmap="RdBu_r", vmin=-1, vmax=1)
        labels = [metric_label(m, arrow=False) for m in matrix.index]
        ax.set_xticks(range(len(labels)), labels, rotation=90)
        ax.set_yticks(range(len(labels)), labels if k == 0 else [""] * len(labels))
        ax.grid(False)
        if len(labels) <= 8:
            for i in range(len(labels)):
                for j in range(len(labels)):
                    if i != j and np.isfinite(values[i, j]):
                        ax.text(j, i, f"{values[i, j]:.1f}", ha="center", va="center", fontsize=7,
                                color="white" if abs(values[i, j]) > 0.6 else "black")
        ax.set_title(model)
    fig.tight_layout()
    if image is not None:
        fig.colorbar(image, ax=list(axes[0]), shrink=0.6, label="Kendall τ")
    return fig


def write_agreement_figure(agreement: pd.DataFrame, out_dir: Path, formats: Sequence[str]) -> list[Path]:
    fig = agreement_figure(agreement)
    if fig is None:
        return []
    caption = ("Metric agreement: Kendall τ between the method rankings (method means, controls and oracles left out) "
               "of every pair of headline metrics, per model. +1 = the same ranking, −1 = the reverse (LATEC's finding: "
               "metrics often disagree).")
    return save_figure(fig, out_dir, FIGURE_STEM, formats, caption)


def agreement_sentence(agreement: pd.DataFrame, model: str, passed: Sequence[str] | None = None,
                       limit: int = 8) -> str | None:
    """One paragraph on which metrics agree (τ ≥ 0.6) and which contradict each other (τ ≤ −0.6) for ``model``
    (the ``limit`` strongest pairs of each); ``passed``: the metrics that passed the validity check, named after."""
    rows = agreement[agreement["model"] == model]
    if rows.empty:
        return None
    agree, contradict = strong_pairs(agreement, model)

    def listing(pairs: list) -> str:
        text = "; ".join(f"{a} and {b} (τ {tau:+.2f})" for a, b, tau in pairs[:limit])
        return text + (f"; and {len(pairs) - limit} more" if len(pairs) > limit else "")

    n = int(rows["n_methods"].max()) if len(rows) else 0
    parts = [f"Kendall τ between the rankings of {n} methods for {len(rows)} metric pairs (metric_agreement.csv)."]
    parts.append(f"Agree (τ ≥ {STRONG_TAU:g}): {listing(agree)}." if agree else f"No pair agrees with τ ≥ {STRONG_TAU:g}.")
    parts.append(f"Contradict (τ ≤ −{STRONG_TAU:g}): {listing(contradict)}." if contradict
                 else f"No pair contradicts with τ ≤ −{STRONG_TAU:g}.")
    if passed is not None:
        compared = set(rows["metric_a"]) | set(rows["metric_b"])
        valid = [m for m in dict.fromkeys([*rows["metric_a"], *rows["metric_b"]]) if m in set(passed)]
        if valid:
            parts.append(f"Of the compared metrics, these passed the validity check: {', '.join(valid)}; the "
                         f"other {len(compared) - len(valid)} show how they rank, not that they measure what they claim.")
        else:
            parts.append("None of the compared metrics passed the validity check for this model: the agreement "
                         "describes their rankings only.")
    return " ".join(parts)
