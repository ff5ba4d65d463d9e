"""``stabn-bench compare``: two fake runs with one known score difference, cells of one run only, NaN, filters."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stabn_bench.benchmark.cli import main
from stabn_bench.benchmark.report.compare import compare_runs, config_differences, flatten, render_comparison
from report_fixtures import make_results_dir

N_CLIPS = 10  # enough for a Wilcoxon test to survive Holm correction over 20 cells (exact p = 2 / 2**10)


@pytest.fixture()
def two_runs(tmp_path):
    a = make_results_dir(tmp_path / "run_a", overlay=False, n_clips=N_CLIPS)
    b = make_results_dir(tmp_path / "run_b", overlay=False, n_clips=N_CLIPS,
                         offsets={("stabn", "gradcam", "insertion_auc"): 0.2}, top1_offset=0.05,
                         config={"metrics": {"bootstrap_resamples": 200, "steps": 16}})
    return a, b


def test_compare_runs_reports_the_known_difference(two_runs):
    comparison = compare_runs(*two_runs)
    scores = comparison.scores.set_index(["model", "method", "metric"])
    assert len(scores) == 20 and comparison.only_a == comparison.only_b == 0
    shifted = scores.loc[("stabn", "gradcam", "insertion_auc")]
    assert shifted["diff"] == pytest.approx(0.2)
    assert shifted["cis_overlap"] is False and shifted["verdict"] == "B better"
    assert shifted["n_shared"] == N_CLIPS
    assert shifted["p_holm"] == pytest.approx(min(1.0, 20 * 2 / 2 ** N_CLIPS))  # exact Wilcoxon, Holm over 20
    others = scores.drop(index=("stabn", "gradcam", "insertion_auc"))
    assert (others["diff"].abs() < 1e-12).all() and (others["verdict"] == "no clear difference").all()
    acc = comparison.accuracy
    assert acc["top1_diff"].to_numpy() == pytest.approx([0.05] * len(acc))
    assert acc["top5_diff"].abs().max() == pytest.approx(0.0)
    diffs = dict(zip(comparison.config["key"], zip(comparison.config["a"], comparison.config["b"])))
    assert diffs == {"metrics.steps": (8, 16), "run_name": ("run_a", "run_b")}


def test_compare_direction_lower_is_better(two_runs, tmp_path):
    b = make_results_dir(tmp_path / "run_c", overlay=False, n_clips=N_CLIPS,
                         offsets={("baseline", "random", "deletion_auc"): 0.3})
    scores = compare_runs(two_runs[0], b).scores.set_index(["model", "method", "metric"])
    assert scores.loc[("baseline", "random", "deletion_auc"), "verdict"] == "A better"  # B's deletion AUC rose


def test_only_shared_cells_are_compared_and_nan_is_never_an_overlap(tmp_path):
    a = make_results_dir(tmp_path / "a", overlay=False, n_clips=N_CLIPS)
    b = make_results_dir(tmp_path / "b", overlay=False, n_clips=N_CLIPS, methods=("gradcam", "random", "occlusion"))
    scores = pd.read_csv(b / "scores.csv", dtype={"clip_id": str})
    nan_cell = (scores.model == "stabn") & (scores.method == "gradcam") & (scores.metric == "pointing_game")
    scores.loc[nan_cell, "value"] = np.nan  # a cell with no values at all in B
    scores["seed"] = 0  # an extra column (e.g. a seed) does not break anything
    scores.to_csv(b / "scores.csv", index=False)
    comparison = compare_runs(a, b)
    cells = comparison.scores
    assert set(cells["method"]) <= {"gradcam", "random", "-"}
    assert comparison.only_a == 2 * 3 and comparison.only_b == 2 * 3  # stabn-attention in A, occlusion in B
    row = cells[(cells.model == "stabn") & (cells.method == "gradcam") & (cells.metric == "pointing_game")].iloc[0]
    assert row["cis_overlap"] is None and row["verdict"] == "not testable" and row["n_shared"] == 0
    text = render_comparison(comparison, only_clear=False)
    line = next(t for t in text.splitlines() if t.startswith("stabn") and "gradcam" in t and "pointing_game" in t)
    assert "yes" not in line and "not testable" in line
    assert "6 only in A, 6 only in B" in text
    assert len(text.splitlines()) < 60  # no flood of "only in A" rows


def test_flatten_and_config_differences():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None}) == {"a.b": 1, "a.c.d": [1, 2], "e": None}
    diff = config_differences({"x": {"y": 1}, "z": 2}, {"x": {"y": 1}, "w": 3})
    assert diff.values.tolist() == [["w", "(absent)", 3], ["z", 2, "(absent)"]]


def test_compare_command_filters_prints_and_writes_only_to_out(two_runs, tmp_path, capsys):
    a, b = two_runs
    before = sorted(p.name for p in b.iterdir())
    assert main(["compare", str(a), str(b)]) == 0
    printed = capsys.readouterr().out
    assert "1 of 20 differ clearly" in printed and "B better 1, A better 0" in printed
    assert "metrics.steps" in printed and "Holm" in printed
    assert sorted(p.name for p in b.iterdir()) == before  # nothing written into RUN_B
    out = tmp_path / "cmp"
    assert main(["compare", str(a), str(b), "--methods", "gradcam", "--metrics", "insertion_auc", "deletion_auc",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "4 cells" in printed and "1 of 4 differ clearly" in printed
    table = pd.read_csv(out / "compare.csv")
    assert set(table["method"]) == {"gradcam"} and len(table) == 4
    row = table[(table.model == "stabn") & (table.metric == "insertion_auc")]
    assert row["diff"].item() == pytest.approx(0.2)
    md = (out / "compare.md").read_text()
    assert md.startswith("# Comparison: A = run_a, B = run_b") and "**B better**" in md
    assert main(["compare", str(a), str(b), "--methods", "nope"]) == 1
    assert "nope" in capsys.readouterr().err
