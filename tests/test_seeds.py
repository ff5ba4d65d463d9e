"""Several training seeds: per-seed means, then mean and spread across seeds (benchmark/report/seeds.py)."""
import math

import numpy as np
import pandas as pd
import pytest

from stabn_bench.benchmark.config import ConfigError, load_config
from stabn_bench.benchmark.report.seeds import (
    aggregate_accuracy, alignment_rows, seed_summary_table, spread_view, with_seed_in_clip_id,
)
from stabn_bench.benchmark.report.tables import summary_table


def _scores():
    # seed 0: clips a, b -> 0.2, 0.4 (mean 0.3); seed 1: clips a, b -> 0.6, 0.8 (mean 0.7); clip means 0.4, 0.6
    return pd.DataFrame({
        "model": "stabn", "method": "gradcam", "metric": "deletion_auc",
        "clip_id": ["a", "b", "a", "b"], "value": [0.2, 0.4, 0.6, 0.8], "seed": [0, 0, 1, 1],
    })


def test_seed_summary_is_the_mean_of_per_seed_means_with_their_spread():
    row = seed_summary_table(_scores(), n_resamples=200).iloc[0]
    assert row["mean"] == pytest.approx(0.5)
    assert row["seed_sd"] == pytest.approx(math.sqrt(0.08))     # SD of (0.3, 0.7), ddof 1
    assert (row["seed_min"], row["seed_max"], row["n_seeds"], row["n"]) == (pytest.approx(0.3), pytest.approx(0.7), 2, 2)
    assert row["ci_low"] <= 0.5 <= row["ci_high"]                  # CI over the clip means 0.4, 0.6
    assert 0.4 - 1e-9 <= row["ci_low"] and row["ci_high"] <= 0.6 + 1e-9
    shown = spread_view(seed_summary_table(_scores(), n_resamples=200)).iloc[0]
    assert (shown["ci_low"], shown["ci_high"]) == (pytest.approx(0.5 - math.sqrt(0.08)), pytest.approx(0.5 + math.sqrt(0.08)))


def test_seeds_weigh_alike_even_when_one_has_more_clips():
    scores = pd.concat([_scores(), _scores().iloc[[0]].assign(clip_id="c", value=0.0)])   # seed 0 gets a third clip
    assert seed_summary_table(scores, n_resamples=100).iloc[0]["mean"] == pytest.approx((0.2 + 0.7) / 2)


def test_one_seed_gives_the_summary_table_of_before():
    scores = _scores()[lambda d: d["seed"] == 0].drop(columns="seed")
    old = summary_table(scores, n_resamples=100)
    new = seed_summary_table(scores, n_resamples=100)
    pd.testing.assert_frame_equal(new[old.columns], old)
    assert new["n_seeds"].tolist() == [1] and np.isnan(new["seed_sd"]).all()
    pd.testing.assert_frame_equal(spread_view(new), new)             # one seed: the bootstrap CI is shown


def test_accuracy_over_seeds_and_alignment_rows():
    per_seed = pd.DataFrame({"model": ["stabn"] * 3, "head": ["perception"] * 3, "top1": [0.9, 1.0, 0.8],
                             "top5": [1.0, 1.0, 1.0], "n_clips": [144] * 3, "seed": [0, 1, 2]})
    row = aggregate_accuracy(per_seed).iloc[0]
    assert list(aggregate_accuracy(per_seed).columns[:5]) == ["model", "head", "top1", "top5", "n_clips"]
    assert (row["top1"], row["top1_sd"], row["top5_sd"]) == (pytest.approx(0.9), pytest.approx(0.1), pytest.approx(0.0))
    assert (row["top1_min"], row["top1_max"], row["n_seeds"], row["n_clips"]) == (0.8, 1.0, 3, 144)
    aligned = alignment_rows("stabn", "spatial", "evidence", 2, np.array([0.5, -0.1, np.nan, 0.2]))
    assert aligned["spearman"] == pytest.approx(0.2) and aligned["n_clips"] == 3
    assert aligned["positive_share"] == pytest.approx(2 / 3) and aligned["spearman_sd"] == pytest.approx(0.3)


def test_figures_see_one_sample_per_clip_and_seed():
    relabelled = with_seed_in_clip_id(_scores())
    assert relabelled["clip_id"].tolist() == ["a@0", "b@0", "a@1", "b@1"]
    one_seed = _scores()[lambda d: d["seed"] == 0]
    assert with_seed_in_clip_id(one_seed) is one_seed


def test_train_seeds_config():
    assert load_config("smoke", ["train.seeds=[]", "seed=7"]).train_seeds() == [7]
    assert load_config("smoke", ["train.seeds=[3,1]"]).train_seeds() == [3, 1]
    with pytest.raises(ConfigError, match="train.seeds"):
        load_config("smoke", ["train.seeds=[1,1]"])
