"""``stabn-bench compare``: two fake runs with one known score difference, accuracy and config differences."""
from __future__ import annotations

import pandas as pd
import pytest

from stabn_bench.benchmark.cli import main
from stabn_bench.benchmark.report.compare import compare_runs, config_differences, flatten
from report_fixtures import make_results_dir


@pytest.fixture()
def two_runs(tmp_path):
    a = make_results_dir(tmp_path / "run_a", overlay=False)
    b = make_results_dir(tmp_path / "run_b", overlay=False, offsets={("stabn", "gradcam", "insertion_auc"): 0.2},
                         top1_offset=0.05, config={"metrics": {"bootstrap_resamples": 200, "steps": 16}})
    return a, b


def test_compare_runs_reports_the_known_difference(two_runs):
    comparison = compare_runs(*two_runs)
    scores = comparison.scores.set_index(["model", "method", "metric"])
    shifted = scores.loc[("stabn", "gradcam", "insertion_auc")]
    assert shifted["diff"] == pytest.approx(0.2)
    assert not shifted["cis_overlap"] and shifted["verdict"] == "B better"
    assert shifted["n_shared"] == 5
    others = scores.drop(index=("stabn", "gradcam", "insertion_auc"))
    assert (others["diff"].abs() < 1e-12).all() and (others["verdict"] == "no clear difference").all()
    acc = comparison.accuracy
    assert acc["top1_diff"].to_numpy() == pytest.approx([0.05] * len(acc))
    assert acc["top5_diff"].abs().max() == pytest.approx(0.0)
    diffs = dict(zip(comparison.config["key"], zip(comparison.config["a"], comparison.config["b"])))
    assert diffs == {"metrics.steps": (8, 16), "run_name": ("run_a", "run_b")}


def test_compare_direction_lower_is_better(two_runs, tmp_path):
    b = make_results_dir(tmp_path / "run_c", overlay=False, offsets={("baseline", "random", "deletion_auc"): 0.3})
    scores = compare_runs(two_runs[0], b).scores.set_index(["model", "method", "metric"])
    assert scores.loc[("baseline", "random", "deletion_auc"), "verdict"] == "A better"  # B's deletion AUC rose


def test_flatten_and_config_differences():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None}) == {"a.b": 1, "a.c.d": [1, 2], "e": None}
    diff = config_differences({"x": {"y": 1}, "z": 2}, {"x": {"y": 1}, "w": 3})
    assert diff.values.tolist() == [["w", "(absent)", 3], ["z", 2, "(absent)"]]


def test_compare_command_prints_and_writes(two_runs, tmp_path, capsys):
    a, b = two_runs
    out_csv = tmp_path / "diff.csv"
    assert main(["compare", str(a), str(b), "--out", str(out_csv)]) == 0
    printed = capsys.readouterr().out
    assert "1 of 20 scores differ clearly" in printed and "B better 1, A better 0" in printed
    assert "metrics.steps" in printed
    table = pd.read_csv(out_csv)
    row = table[(table.model == "stabn") & (table.method == "gradcam") & (table.metric == "insertion_auc")]
    assert row["diff"].item() == pytest.approx(0.2)
    assert main(["compare", str(a), str(b)]) == 0
    md = (b / "compare_run_a.md").read_text()
    assert md.startswith("# Comparison: A = run_a, B = run_b") and "**B better**" in md
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "x.txt")]) == 1
