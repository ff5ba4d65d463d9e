"""A fake results folder with every file a run writes, for tests of the report, plots, compare and the runner.

``make_results_dir(tmp_path / "run")`` builds 2 models × 3 methods × 3 metrics × 5 clips (plus a model-level
metric), deletion / insertion curves (and the random-order references, method "-"), temporal.csv with a ground-truth window, one overlay, accuracy.csv,
errors.csv, config.yaml and provenance.json. ``offsets`` shifts one (model, method, metric)'s values by a known
amount so comparisons have a known answer.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from stabn_bench.benchmark.report import temporal_rows, write_overlay, write_table

MODELS = ("baseline", "stabn")
METHODS = ("gradcam", "random", "stabn-attention")
METRICS = ("deletion_auc", "insertion_auc", "pointing_game")
#: per-method quality: higher = better explanation (drives every fake score in the same direction)
QUALITY = {"stabn-attention": 0.8, "gradcam": 0.5, "random": 0.1}
N_CLIPS = 5
N_FRAMES = 8


def clip_ids(n: int = N_CLIPS) -> list[str]:
    return [f"clip{i:03d}" for i in range(n)]


def fake_scores(models=MODELS, methods=METHODS, metrics=METRICS, n_clips=N_CLIPS, seed=0, offsets=None) -> pd.DataFrame:
    """Long scores table; a better method gets a better value on every metric, with small clip noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for model in models:
        for method in methods:
            q = QUALITY.get(method, 0.3)
            for metric in metrics:
                noise = rng.normal(0, 0.02, n_clips)
                if metric == "deletion_auc":
                    values = 0.6 - 0.5 * q + noise
                elif metric == "pointing_game":
                    values = (rng.random(n_clips) < q).astype(float)
                else:
                    values = 0.2 + 0.6 * q + noise
                values = values + (offsets or {}).get((model, method, metric), 0.0)
                rows += [(model, method, metric, c, float(v)) for c, v in zip(clip_ids(n_clips), values)]
        for c in clip_ids(n_clips):
            rows.append((model, "-", "shuffle_prediction_change", c, float(rng.random() < 0.4)))
    return pd.DataFrame(rows, columns=["model", "method", "metric", "clip_id", "value"])


def fake_curves(models=MODELS, methods=METHODS, n_clips=N_CLIPS, seed=0) -> pd.DataFrame:
    """Deletion curves fall faster and insertion curves rise faster for better methods; 6 to 9 steps per clip;
    plus, as the pipeline writes them, the random-order reference curves (``deletion_random``,
    ``insertion_random``) once per model and clip with method ``"-"``."""
    rng = np.random.default_rng(seed + 1)
    rows = []
    for model in models:
        for method in methods:
            q = QUALITY.get(method, 0.3)
            for c in clip_ids(n_clips):
                x = np.linspace(0, 1, int(rng.integers(6, 10)))
                deletion = 0.9 * (1 - x) ** (1 + 4 * q)
                insertion = 0.1 + 0.8 * x ** (1 / (1 + 4 * q))
                rows += [(model, method, "deletion", c, f, s) for f, s in zip(x, deletion)]
                rows += [(model, method, "insertion", c, f, s) for f, s in zip(x, insertion)]
        for c in clip_ids(n_clips):  # the random-order reference: one per model and clip
            rows += [(model, "-", "deletion_random", c, f, 0.9 * (1 - f)) for f in np.linspace(0, 1, 5)]
            rows += [(model, "-", "insertion_random", c, f, 0.1 + 0.8 * f) for f in np.linspace(0, 1, 5)]
    return pd.DataFrame(rows, columns=["model", "method", "metric", "clip_id", "fraction", "score"])


def fake_windows(n_clips=N_CLIPS, n_frames=N_FRAMES, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed + 2)
    window = np.zeros((n_clips, n_frames))
    for i in range(n_clips):
        start = int(rng.integers(0, n_frames - 3))
        window[i, start:start + 3] = 1
    return window


def fake_temporal(models=MODELS, methods=METHODS, n_clips=N_CLIPS, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 3)
    window = fake_windows(n_clips, seed=seed)
    parts = []
    for model in models:
        for method in methods:
            importance = QUALITY.get(method, 0.3) * window + rng.random(window.shape) * 0.3
            parts.append(temporal_rows(model, method, clip_ids(n_clips), importance, window))
    return pd.concat(parts, ignore_index=True)


def make_results_dir(
    run_dir: Path, models=MODELS, methods=METHODS, metrics=METRICS, n_clips=N_CLIPS, seed=0,
    offsets: dict | None = None, top1_offset: float = 0.0, config: dict | None = None, overlay: bool = True,
) -> Path:
    """Write a complete fake run folder at ``run_dir`` and return it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg = {"run_name": run_dir.name, "seed": seed, "metrics": {"bootstrap_resamples": 200, "steps": 8},
           "model": {"depth": 18, "width": 8}}
    cfg.update(config or {})
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg))
    (run_dir / "provenance.json").write_text(json.dumps({"git_commit": "0" * 40, "device": "cpu", "seed": seed}))
    accuracy = pd.DataFrame(
        [(m, head, 0.5 + 0.1 * i + top1_offset, 0.9, n_clips) for i, m in enumerate(models)
         for head in (["perception", "attention"] if m != "baseline" else ["perception"])],
        columns=["model", "head", "top1", "top5", "n_clips"],
    )
    write_table(accuracy, run_dir / "accuracy.csv")
    write_table(fake_scores(models, methods, metrics, n_clips, seed, offsets), run_dir / "scores.csv")
    write_table(fake_curves(models, methods, n_clips, seed), run_dir / "curves.csv")
    write_table(fake_temporal(models, methods, n_clips, seed), run_dir / "temporal.csv")
    write_table(pd.DataFrame([(models[0], methods[0], clip_ids(n_clips)[0], "explain", "RuntimeError: out of memory")],
                             columns=["model", "method", "clip_id", "stage", "error"]), run_dir / "errors.csv")
    if overlay:
        rng = np.random.default_rng(seed + 4)
        t, h, w = N_FRAMES, 16, 16
        frames = rng.integers(0, 255, (t, h, w, 3), dtype=np.uint8)
        evidence = np.zeros((t, h, w))
        evidence[2:5, 4:9, 4:9] = 1
        maps = {(m, meth): rng.random((t, h, w)) + QUALITY.get(meth, 0.3) * evidence for m in models for meth in methods}
        meta = {"label": 3, "class": "Moving something from left to right",
                **{f"prediction/{m}": 3 for m in models}}  # as the pipeline writes it
        write_overlay(run_dir, clip_ids(n_clips)[0], frames, evidence, maps, meta=meta)
    return run_dir
