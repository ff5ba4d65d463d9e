"""Metric validity in every run: which rows feed :mod:`stabn_bench.metrics.validity`, and ``metric_validity.csv``.

Two parts:

- during explain + score, :func:`tie_rescores` scores the maps of ``metrics.validity.tie_methods`` again under
  ``tie_seeds - 1`` more tie-break seeds (first ``tie_clips`` clips; the random-order reference curves are shared,
  so only the tie-breaks change); the rows, with the run's own values as seed 0, go to ``tie_scores.csv``
  (``model, method, metric, clip_id, tie_seed, value``);
- after the shards are merged, :func:`write_metric_validity` computes the table from ``scores``, ``tie_scores`` and
  the fully deleted end points of ``curves`` and writes ``metric_validity.csv`` (columns:
  :data:`metrics.validity.VALIDITY_COLUMNS`). The report reads that file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd
import torch

from stabn_bench.metrics.validity import ValidityThresholds, deleted_probability, metric_validity

from ..config import RunConfig

#: seed k of the spread check = the batch's seed + k * TIE_SEED_STEP (seed 0 is the run's own)
TIE_SEED_STEP = 100_003


def tie_seed(seed: int, k: int) -> int:
    return seed + k * TIE_SEED_STEP


def wants_tie_rescore(cfg: RunConfig, method: str, first_clip: int) -> bool:
    """True when ``method``'s scores of the clip batch starting at ``first_clip`` get the tie-break spread check."""
    vcfg = cfg.metrics.validity
    return vcfg.tie_seeds > 1 and method in vcfg.tie_methods and first_clip < vcfg.tie_clips


def tie_rescores(
    score: Callable[[int], dict[str, torch.Tensor]], values: dict[str, torch.Tensor], seed: int, n_seeds: int,
) -> list[tuple[int, dict[str, torch.Tensor]]]:
    """``[(k, values under tie-break seed k)]`` for k = 0 (``values``, already scored) .. n_seeds - 1.

    Args:
        score: ``seed -> {metric: (N,) values}``, the method's scorer with everything but the seed fixed.
    """
    return [(0, values)] + [(k, score(tie_seed(seed, k))) for k in range(1, n_seeds)]


def thresholds_of(cfg: RunConfig) -> ValidityThresholds:
    v = cfg.metrics.validity
    return ValidityThresholds(alpha=v.alpha, min_effect=v.min_effect, max_tie_spread=v.max_tie_spread,
                              max_deleted_vs_chance=v.max_deleted_vs_chance)


def validity_table(cfg: RunConfig, tables: dict[str, pd.DataFrame], num_classes: int,
                   ranking_exclude: Sequence[str] | None = None) -> pd.DataFrame:
    """The validity table of a run from its merged tables (``scores``, ``tie_scores``, ``curves``)."""
    from ..report.seeds import with_seed_in_clip_id

    kwargs: dict[str, Any] = {} if ranking_exclude is None else {"ranking_exclude": tuple(ranking_exclude)}
    # several training seeds: every (clip, seed) pair is one sample of the paired tests
    tables = {name: None if table is None else with_seed_in_clip_id(table) for name, table in tables.items()}
    return metric_validity(
        tables["scores"], tie_scores=tables.get("tie_scores"), deleted=deleted_probability(tables.get("curves")),
        num_classes=num_classes, thresholds=thresholds_of(cfg), n_splits=cfg.metrics.validity.split_half_splits,
        seed=cfg.seed, **kwargs,
    )


def oracle_methods() -> list[str]:
    """The methods left out of the split-half ranking: ``oracle``, ``inverse-oracle`` and every registered method
    of kind ``oracle`` (they bound the ranking trivially)."""
    from stabn_bench import baselines
    from stabn_bench.metrics.validity import INVERSE_ORACLE, ORACLE

    registered = {name for name in baselines.available_methods(None) if baselines.get_method(name).kind == "oracle"}
    return sorted(registered | {ORACLE, INVERSE_ORACLE})


def write_metric_validity(run_dir: Path, cfg: RunConfig, tables: dict[str, pd.DataFrame], num_classes: int) -> Path:
    """Write ``<run_dir>/metric_validity.csv``; returns its path."""
    from ..report import write_table

    table = validity_table(cfg, tables, num_classes, ranking_exclude=oracle_methods())
    return write_table(table, Path(run_dir) / "metric_validity.csv")
