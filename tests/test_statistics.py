"""Bootstrap CIs, Holm adjustment, paired Wilcoxon tests and average ranks on data with known answers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from stabn_bench.metrics.statistics import (
    average_ranks, bootstrap_ci, bootstrap_ci_columns, holm_adjust, method_means, paired_tests,
)


def test_bootstrap_ci_contains_mean_and_matches_scipy():
    values = np.random.default_rng(3).normal(2.0, 1.0, 40)
    mean, low, high = bootstrap_ci(values, confidence=0.9, n_resamples=500, seed=7)
    assert mean == pytest.approx(values.mean())
    assert low < mean < high
    ref = stats.bootstrap((values,), np.mean, n_resamples=500, confidence_level=0.9, method="BCa",
                          rng=np.random.default_rng(7))
    assert low == pytest.approx(ref.confidence_interval.low)
    assert high == pytest.approx(ref.confidence_interval.high)


def test_bootstrap_ci_narrows_with_more_clips():
    rng = np.random.default_rng(0)
    widths = []
    for n in (10, 100, 1000):
        _, low, high = bootstrap_ci(rng.normal(0, 1, n), n_resamples=400)
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    # the width follows the standard error: about 2 * 1.96 / sqrt(n)
    assert widths[2] == pytest.approx(2 * 1.96 / np.sqrt(1000), rel=0.25)


def test_bootstrap_ci_degenerate_samples():
    assert bootstrap_ci([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)
    assert bootstrap_ci([2.0]) == (2.0, 2.0, 2.0)
    assert all(np.isnan(bootstrap_ci([])))
    mean, low, high = bootstrap_ci([0, 0, 0, 0, 1.0])  # BCa undefined here: percentile fallback, still finite
    assert mean == pytest.approx(0.2) and 0.0 <= low <= mean <= high <= 1.0
    mean, low, high = bootstrap_ci([1.0, np.nan, 3.0, 2.0])
    assert mean == pytest.approx(2.0)


def test_bootstrap_columns_equal_one_column_calls_and_skip_nans():
    matrix = np.random.default_rng(1).random((20, 3))
    mean, low, high = bootstrap_ci_columns(matrix, n_resamples=300, seed=2)
    for j in range(3):
        assert (mean[j], low[j], high[j]) == pytest.approx(bootstrap_ci(matrix[:, j], n_resamples=300, seed=2))
    matrix[0, 1] = np.nan
    mean, _, _ = bootstrap_ci_columns(matrix, n_resamples=100)
    assert mean[1] == pytest.approx(np.nanmean(matrix[:, 1]))
    assert mean[0] == pytest.approx(matrix[:, 0].mean())


def test_holm_known_values_monotone_and_capped():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    np.testing.assert_allclose(holm_adjust(p), [0.03, 0.06, 0.06, 0.02])
    adjusted = holm_adjust([0.2, 0.5, 0.9])
    np.testing.assert_allclose(adjusted, [0.6, 1.0, 1.0])
    order = np.argsort(p)
    assert np.all(np.diff(holm_adjust(p)[order]) >= 0)
    assert np.all(holm_adjust(p) >= p)
    np.testing.assert_allclose(holm_adjust([np.nan, 0.01]), [np.nan, 0.01])


def _scores(values: dict[str, np.ndarray], metric: str, model: str = "m") -> pd.DataFrame:
    rows = [(model, method, metric, f"c{i}", float(v)) for method, vals in values.items() for i, v in enumerate(vals)]
    return pd.DataFrame(rows, columns=["model", "method", "metric", "clip_id", "value"])


def test_paired_tests_find_the_clearly_better_method():
    rng = np.random.default_rng(0)
    base = rng.normal(0.5, 0.1, 30)
    scores = _scores({"good": base + 0.2 + rng.normal(0, 0.01, 30), "same1": base + rng.normal(0, 0.01, 30),
                      "same2": base + rng.normal(0, 0.01, 30)}, "insertion_auc")
    table = paired_tests(scores, "insertion_auc", "m").set_index(["method_a", "method_b"])
    assert len(table) == 3
    assert table.loc[("good", "same1"), "p_holm"] < 1e-4
    assert table.loc[("good", "same1"), "better"] == "good"
    assert table.loc[("same1", "same2"), "p_holm"] > 0.05
    np.testing.assert_allclose(table["p_holm"], holm_adjust(table["p_value"].to_numpy()))
    assert table.loc[("good", "same2"), "mean_diff"] == pytest.approx(0.2, abs=0.01)


def test_paired_tests_direction_and_edge_cases():
    scores = _scores({"a": [0.1, 0.2, 0.3, 0.2], "b": [0.5, 0.6, 0.7, 0.65], "c": [0.1, 0.2, 0.3, 0.2]}, "deletion_auc")
    table = paired_tests(scores, "deletion_auc", "m").set_index(["method_a", "method_b"])
    assert table.loc[("a", "b"), "better"] == "a"  # lower deletion AUC is better
    assert table.loc[("a", "c"), "p_value"] == 1.0 and table.loc[("a", "c"), "better"] == "-"  # identical
    assert table.loc[("a", "b"), "n"] == 4
    # only shared clips are paired
    partial = scores[~((scores["method"] == "b") & (scores["clip_id"] == "c0"))]
    assert paired_tests(partial, "deletion_auc", "m").set_index(["method_a", "method_b"]).loc[("a", "b"), "n"] == 3


def test_average_ranks_on_a_hand_made_table():
    means = pd.DataFrame({"deletion_auc": [0.1, 0.3, 0.2], "insertion_auc": [0.9, 0.5, 0.5]}, index=["x", "y", "z"])
    ranks = average_ranks(means)
    # deletion (lower better): x 1, z 2, y 3; insertion (higher better): x 1, y and z tie at 2.5
    assert ranks.loc["x", "average_rank"] == 1.0
    assert ranks.loc["y", "average_rank"] == pytest.approx((3 + 2.5) / 2)
    assert ranks.loc["z", "average_rank"] == pytest.approx((2 + 2.5) / 2)
    assert list(ranks.index) == ["x", "z", "y"]
    flipped = average_ranks(means, directions={"deletion_auc": True})
    assert flipped.loc["y", "deletion_auc"] == 1.0
    unknown = average_ranks(means.rename(columns={"insertion_auc": "not_in_catalog"}))
    assert "not_in_catalog" not in unknown.columns


def test_method_means_pivot():
    scores = _scores({"a": [1.0, 3.0], "b": [2.0, 2.0]}, "insertion_auc")
    means = method_means(scores, "m")
    assert means.loc["a", "insertion_auc"] == 2.0 and means.loc["b", "insertion_auc"] == 2.0


def test_paired_tests_equal_one_pair_scipy_calls_with_ties_and_zeros():
    """Each pair's p-value is that of one scipy call with the project's method rule (exact up to 50 pairs)."""
    rng = np.random.default_rng(5)
    values = {"a": rng.normal(0, 1, 20), "b": rng.normal(0.3, 1, 20), "c": rng.normal(0, 1, 20),
              "d": np.round(rng.normal(0, 1, 20))}
    values["e"] = values["a"].copy()
    values["e"][:3] += 0.5  # zeros in a - e
    table = paired_tests(_scores(values, "insertion_auc"), "insertion_auc", "m")
    for row in table.itertuples():
        expected = 1.0 if np.all(values[row.method_a] == values[row.method_b]) else \
            stats.wilcoxon(values[row.method_a], values[row.method_b], method="exact").pvalue
        assert row.p_value == pytest.approx(expected, rel=1e-9), (row.method_a, row.method_b)
