"""Metric agreement (Kendall tau between method rankings) with known answers."""
import math

import numpy as np
import pandas as pd

from stabn_bench.metrics.agreement import (
    AGREEMENT_COLUMNS, agreement_matrix, kendall_tau, metric_agreement, strong_pairs,
)


def _scores(values: dict) -> pd.DataFrame:
    """{(method, metric): mean} -> scores rows (two clips per method and metric, the same value)."""
    rows = [("m", method, metric, f"c{i}", value) for (method, metric), value in values.items() for i in range(2)]
    return pd.DataFrame(rows, columns=["model", "method", "metric", "clip_id", "value"])


def test_identical_rankings_give_tau_one_and_reversed_minus_one():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == (1.0, kendall_tau([1, 2, 3, 4], [10, 20, 30, 40])[1])
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1])[0] == -1.0
    assert math.isnan(kendall_tau([1, 2], [1, 2])[0])  # too few methods
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3])[0])  # a constant ranking


def test_directions_are_applied_before_ranking():
    methods = ["a", "b", "c", "d"]
    values = {}
    for rank, method in enumerate(methods):  # a is best everywhere
        values[(method, "insertion_auc")] = 0.9 - 0.1 * rank  # higher is better
        values[(method, "deletion_auc")] = 0.1 + 0.1 * rank  # lower is better: the same ranking
        values[(method, "pointing_game")] = 0.1 + 0.1 * rank  # higher is better: the reverse ranking
    table = metric_agreement(_scores(values), ["deletion_auc", "insertion_auc", "pointing_game"])
    assert list(table.columns) == AGREEMENT_COLUMNS and len(table) == 3
    tau = {(r.metric_a, r.metric_b): r.kendall_tau for r in table.itertuples()}
    assert tau[("deletion_auc", "insertion_auc")] == 1.0
    assert tau[("insertion_auc", "pointing_game")] == -1.0
    assert (table["n_methods"] == 4).all()
    matrix = agreement_matrix(table, "m")
    assert matrix.loc["pointing_game", "deletion_auc"] == -1.0 and np.allclose(np.diag(matrix), 1.0)
    agree, contradict = strong_pairs(table, "m")
    assert [(a, b) for a, b, _ in agree] == [("deletion_auc", "insertion_auc")]
    assert len(contradict) == 2


def test_excluded_methods_do_not_count():
    values = {(m, k): v for m, v in zip("abc", (3, 2, 1)) for k in ("insertion_auc", "pointing_game")}
    values[("oracle", "insertion_auc")], values[("oracle", "pointing_game")] = 10.0, -10.0
    table = metric_agreement(_scores(values), ["insertion_auc", "pointing_game"], exclude=("oracle",))
    assert table.iloc[0]["kendall_tau"] == 1.0 and table.iloc[0]["n_methods"] == 3
