"""Metric validity (metrics/validity.py) on synthetic score tables with known answers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stabn_bench.metrics.validity import (
    TIE_COLUMNS, VALIDITY_COLUMNS, ValidityThresholds, compare_paired, deleted_probability, endpoint_curve,
    invalid_metrics, metric_validity, rank_biserial, split_half_reliability, tie_spread, validity_flags,
)

N_CLIPS = 40


def long_scores(values: dict[tuple[str, str, str], np.ndarray]) -> pd.DataFrame:
    """{(model, method, metric): per-clip values} -> the scores.csv long format."""
    rows = []
    for (model, method, metric), per_clip in values.items():
        rows += [(model, method, metric, f"clip{i:03d}", float(v)) for i, v in enumerate(per_clip)]
    return pd.DataFrame(rows, columns=["model", "method", "metric", "clip_id", "value"])


def controls(model: str, metric: str, oracle: np.ndarray, random: np.ndarray, inverse: np.ndarray) -> dict:
    return {(model, "oracle", metric): oracle, (model, "random", metric): random, (model, "inverse-oracle", metric): inverse}


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_rank_biserial_known_values():
    assert rank_biserial(np.array([1.0, 2.0, 3.0])) == 1.0
    assert rank_biserial(np.array([-1.0, -2.0])) == -1.0
    # ranks of |d| = 1, 2, 3, 4: positives {1, 4} (ranks 1 + 4), negatives {2, 3} -> (5 - 5) / 10 = 0
    assert rank_biserial(np.array([1.0, -2.0, -3.0, 4.0])) == 0.0
    assert np.isnan(rank_biserial(np.zeros(5)))


def test_compare_paired_applies_the_direction(rng):
    low = rng.normal(0.2, 0.05, N_CLIPS)
    high = low + 0.3
    up = compare_paired(high, low, higher_is_better=True)
    assert up.n == N_CLIPS and up.share_better == 1.0 and up.effect == 1.0 and up.p_value < 1e-6
    down = compare_paired(high, low, higher_is_better=False)  # lower is better: 'high' loses everywhere
    assert down.share_better == 0.0 and down.effect == -1.0 and down.p_value > 0.99
    same = compare_paired(low, low, higher_is_better=True)
    assert same.p_value == 1.0 and same.share_better == 0.0 and np.isnan(same.effect)


def test_compare_paired_drops_nan_pairs():
    first = np.array([1.0, np.nan, 1.0, 1.0, 1.0, 1.0])
    second = np.array([0.0, 0.0, np.nan, 0.0, 0.0, 0.0])
    result = compare_paired(first, second, higher_is_better=True)
    assert result.n == 4 and result.share_better == 1.0
    assert result.p_value == pytest.approx(0.5 ** 4)  # exact one-sided: every sign positive


def test_metric_passes_when_oracle_beats_random_beats_inverse(rng):
    noise = lambda: rng.normal(0, 0.03, N_CLIPS)  # noqa: E731
    scores = long_scores(controls("m", "insertion_auc", 0.9 + noise(), 0.6 + noise(), 0.3 + noise()))
    table = metric_validity(scores)
    row = table.iloc[0]
    assert list(table.columns) == VALIDITY_COLUMNS
    assert row["status"] == "pass", row["reasons"]
    assert row["oracle_vs_random_share"] == 1.0 and row["oracle_vs_random_effect"] == 1.0
    assert row["random_vs_inverse_p"] < 1e-6
    assert validity_flags(table) == {("m", "insertion_auc"): True}


def test_lower_is_better_metric_uses_the_catalog_direction(rng):
    noise = lambda: rng.normal(0, 0.03, N_CLIPS)  # noqa: E731
    good = controls("m", "deletion_auc", 0.1 + noise(), 0.4 + noise(), 0.8 + noise())  # oracle lowest: right
    wrong = controls("m", "deletion_auc", 0.8 + noise(), 0.4 + noise(), 0.1 + noise())
    assert metric_validity(long_scores(good)).iloc[0]["status"] == "pass"
    row = metric_validity(long_scores(wrong)).iloc[0]
    assert row["status"] == "fail" and row["oracle_vs_random_effect"] == -1.0
    assert "oracle not better than random" in row["reasons"]


def test_metric_is_flagged_when_oracle_equals_random(rng):
    random = 0.5 + rng.normal(0, 0.05, N_CLIPS)
    scores = long_scores(controls("m", "insertion_auc", random.copy(), random, random - 0.3))
    row = metric_validity(scores).iloc[0]
    assert row["status"] == "fail"
    assert row["oracle_vs_random_p"] == 1.0 and row["oracle_vs_random_share"] == 0.0
    assert "oracle not better than random" in row["reasons"]
    assert "random not better" not in row["reasons"]
    flags = validity_flags(metric_validity(scores))
    assert flags == {("m", "insertion_auc"): False}
    assert invalid_metrics(flags, "m") == {"insertion_auc"} and invalid_metrics(flags, "other") == set()


def test_random_not_beating_inverse_oracle_fails(rng):
    noise = lambda: rng.normal(0, 0.03, N_CLIPS)  # noqa: E731
    scores = long_scores(controls("m", "pointing_game", 0.9 + noise(), 0.1 + noise(), 0.1 + noise()))
    row = metric_validity(scores).iloc[0]
    assert row["status"] == "fail" and "random not better than inverse-oracle" in row["reasons"]


def test_small_but_significant_effect_fails_the_effect_threshold(rng):
    # the oracle wins 60% of 400 clips by tiny margins: significant, but the effect is below 0.3
    n = 400
    random = rng.normal(0.5, 0.1, n)
    wins = rng.random(n) < 0.6
    oracle = random + np.where(wins, 0.01, -0.01)
    scores = long_scores(controls("m", "insertion_auc", oracle, random, random - 0.5))
    row = metric_validity(scores).iloc[0]
    assert row["oracle_vs_random_p"] < 0.05 and row["oracle_vs_random_effect"] < 0.3
    assert row["status"] == "fail"
    loose = metric_validity(scores, thresholds=ValidityThresholds(min_effect=0.0)).iloc[0]
    assert loose["status"] == "pass"


def test_too_few_clips_say_so():
    scores = long_scores(controls("m", "insertion_auc", np.full(4, 0.9), np.full(4, 0.5), np.full(4, 0.1)))
    row = metric_validity(scores).iloc[0]
    assert row["status"] == "fail"  # 4 clips: the smallest one-sided p is 1/16 > 0.05
    assert "4 clips cannot reach p<0.05" in row["reasons"]


def test_missing_controls_leave_the_metric_unchecked(rng):
    scores = long_scores({("m", "random", "insertion_auc"): rng.random(N_CLIPS),
                          ("m", "gradcam", "insertion_auc"): rng.random(N_CLIPS)})
    row = metric_validity(scores).iloc[0]
    assert row["status"] == "unchecked" and "inverse-oracle" in row["reasons"] and "oracle" in row["reasons"]
    assert validity_flags(metric_validity(scores)) == {}


def test_sanity_and_unknown_metrics_are_not_judged(rng):
    values = {}
    for metric in ("randomisation_spearman", "my_new_metric", "pointing_game_ceiling"):
        values.update(controls("m", metric, rng.random(N_CLIPS), rng.random(N_CLIPS), rng.random(N_CLIPS)))
    table = metric_validity(long_scores(values)).set_index("metric")
    assert table.loc["randomisation_spearman", "status"] == "exempt"
    assert table.loc["pointing_game_ceiling", "status"] == "exempt"
    assert table.loc["my_new_metric", "status"] == "unchecked"
    assert metric_validity(long_scores(values), directions={"my_new_metric": True}).set_index("metric").loc[
        "my_new_metric", "status"] in ("pass", "fail")


# ---------------------------------------------------------------- split-half reliability


def test_split_half_of_a_clear_ranking_is_high(rng):
    quality = np.linspace(0.0, 1.0, 6)  # six methods, well separated
    values = quality[None, :] + rng.normal(0, 0.05, (N_CLIPS, 6))
    rho, brown = split_half_reliability(values, n_splits=20, seed=1)
    assert rho > 0.95 and brown >= rho


def test_split_half_of_noise_is_near_zero(rng):
    values = rng.normal(0, 1, (200, 8))  # no method is better than another
    rho, _ = split_half_reliability(values, n_splits=50, seed=1)
    assert abs(rho) < 0.25


def test_split_half_needs_three_methods(rng):
    assert np.isnan(split_half_reliability(rng.random((N_CLIPS, 2)))[0])
    assert np.isnan(split_half_reliability(rng.random((3, 5)))[0])


def test_split_half_leaves_the_oracle_controls_out(rng):
    values = {}
    for i, method in enumerate(["a", "b", "c", "d"]):
        values[("m", method, "insertion_auc")] = 0.2 * i + rng.normal(0, 0.02, N_CLIPS)
    values.update(controls("m", "insertion_auc", np.full(N_CLIPS, 2.0), rng.random(N_CLIPS), np.full(N_CLIPS, -2.0)))
    row = metric_validity(long_scores(values)).iloc[0]
    assert row["split_half_methods"] == 5  # a, b, c, d and random
    assert row["split_half_spearman"] > 0.8


# ---------------------------------------------------------------- tie-break spread


def tie_table(spreads: dict[str, float], n_seeds: int = 3) -> pd.DataFrame:
    """Per method: seed s adds s * spread / (n_seeds - 1) to every clip, so the mean's range is ``spread``."""
    rows = []
    for method, spread in spreads.items():
        for s in range(n_seeds):
            for i in range(10):
                rows.append(("m", method, "deletion_auc", f"clip{i:03d}", s, 0.5 + 0.01 * i + s * spread / (n_seeds - 1)))
    return pd.DataFrame(rows, columns=TIE_COLUMNS)


def test_tie_spread_is_the_largest_range_of_the_mean():
    table = tie_spread(tie_table({"gradcam": 0.02, "oracle": 0.001}))
    assert len(table) == 1
    row = table.iloc[0]
    assert row["tie_spread"] == pytest.approx(0.02) and row["tie_spread_method"] == "gradcam" and row["tie_seeds"] == 3


def test_tie_spread_decides_validity(rng):
    noise = lambda: rng.normal(0, 0.03, N_CLIPS)  # noqa: E731
    scores = long_scores(controls("m", "deletion_auc", 0.1 + noise(), 0.4 + noise(), 0.8 + noise()))
    tied = metric_validity(scores, tie_scores=tie_table({"gradcam": 0.02})).iloc[0]
    assert tied["status"] == "fail" and "tie-break spread" in tied["reasons"] and "gradcam" in tied["reasons"]
    stable = metric_validity(scores, tie_scores=tie_table({"gradcam": 0.0})).iloc[0]
    assert stable["status"] == "pass" and stable["tie_spread"] == 0.0


# ---------------------------------------------------------------- fully deleted probability


def curve_rows(model: str, end: float, curve: str = "deletion", methods=("a", "b"), n_clips: int = 5) -> list:
    rows = []
    for method in methods:
        for i in range(n_clips):
            for fraction, score in ((0.0, 0.9), (0.5, 0.5), (1.0, end)):
                rows.append((model, method, curve, f"clip{i:03d}", fraction, score))
    return rows


def test_deleted_probability_reads_the_last_point():
    curves = pd.DataFrame(curve_rows("m", 0.4) + curve_rows("m", 0.1, "frame_deletion") + curve_rows("m", 0.9, "insertion"),
                          columns=["model", "method", "metric", "clip_id", "fraction", "score"])
    table = deleted_probability(curves).set_index("curve")
    assert table.loc["deletion", "deleted_probability"] == pytest.approx(0.4)
    assert table.loc["frame_deletion", "deleted_probability"] == pytest.approx(0.1)
    assert table.loc["deletion", "n_clips"] == 5 and "insertion" not in table.index


def test_endpoint_curve_of_each_family():
    assert endpoint_curve("deletion_auc") == "deletion"
    assert endpoint_curve("insertion_auc_vs_random_voxel") == "deletion"
    assert endpoint_curve("lerf_minus_morf") == "deletion"
    assert endpoint_curve("frame_insertion_auc") == "frame_deletion"
    assert endpoint_curve("pointing_game") is None and endpoint_curve("temporal_auroc") is None


@pytest.mark.parametrize("end, status", [(0.24, "pass"), (0.26, "fail"), (0.55, "fail")])
def test_fully_deleted_check_flags_probabilities_above_two_over_k(rng, end, status):
    noise = lambda: rng.normal(0, 0.03, N_CLIPS)  # noqa: E731
    values = controls("m", "deletion_auc", 0.1 + noise(), 0.4 + noise(), 0.8 + noise())
    values.update(controls("m", "pointing_game", 0.9 + noise(), 0.5 + noise(), 0.1 + noise()))
    curves = pd.DataFrame(curve_rows("m", end), columns=["model", "method", "metric", "clip_id", "fraction", "score"])
    table = metric_validity(long_scores(values), deleted=deleted_probability(curves), num_classes=8).set_index("metric")
    assert table.loc["deletion_auc", "chance"] == pytest.approx(1 / 8)
    assert table.loc["deletion_auc", "deleted_probability"] == pytest.approx(end)
    assert table.loc["deletion_auc", "status"] == status
    if status == "fail":
        assert "fully deleted" in table.loc["deletion_auc", "reasons"]
    # a metric that substitutes nothing is not judged by the end point
    assert table.loc["pointing_game", "status"] == "pass" and np.isnan(table.loc["pointing_game", "deleted_probability"])


# ---------------------------------------------------------------- the report: dagger, footnote, no bold, CSV column


def _column_cells(markdown: str, header: str) -> list[str]:
    """The cells under ``header`` in the first Markdown table whose header row holds it."""
    lines = markdown.splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and header in cells:
            j = cells.index(header)
            body = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                body.append([c.strip() for c in row.strip().strip("|").split("|")][j])
            return body
    raise AssertionError(f"no table with column {header!r}")


def test_report_flags_a_failed_metric_everywhere(tmp_path):
    from report_fixtures import MODELS, make_results_dir

    from stabn_bench.benchmark.report import format_terminal_summary, load_results, write_report, write_table

    methods = ("gradcam", "random", "stabn-attention", "oracle", "inverse-oracle")
    offsets = {}
    for model in MODELS:
        offsets[(model, "oracle", "insertion_auc")] = 0.5      # oracle > random > inverse: insertion passes
        offsets[(model, "inverse-oracle", "insertion_auc")] = -0.5
        offsets[(model, "oracle", "deletion_auc")] = 0.4       # the oracle deletes worse than random: fails
    run = make_results_dir(tmp_path / "run", methods=methods, metrics=("deletion_auc", "insertion_auc"), n_clips=8,
                           offsets=offsets, overlay=False)
    validity = metric_validity(load_results(run).scores)
    assert set(validity.set_index(["model", "metric"])["status"].items()) == {
        ((m, k), "fail" if k == "deletion_auc" else "pass") for m in MODELS for k in ("deletion_auc", "insertion_auc")}
    write_table(validity, run / "metric_validity.csv")
    write_report(run, formats=())

    md = (run / "summary.md").read_text()
    assert "## Metric validity" in md and "one-sided Wilcoxon" in md and "Validity: stabn" in md
    assert "failed the metric-validity check" in md  # the footnote
    deletion = _column_cells(md.split("## Model: stabn")[1], "deletion_auc ↓ †")
    assert deletion and not any(cell.startswith("**") for cell in deletion), "a failed metric was ranked (bold)"
    insertion = _column_cells(md.split("## Model: stabn")[1], "insertion_auc ↑")
    assert any(cell.startswith("**") for cell in insertion)
    # average ranks only over the metrics that passed
    assert "Only metrics that passed the metric-validity check are ranked; left out: deletion_auc" in md
    tex = (run / "summary.tex").read_text()
    assert "deletion\\_auc $\\downarrow$ \\textsuperscript{\\dag}" in tex
    summary = pd.read_csv(run / "summary.csv")
    valid = summary.drop_duplicates(["model", "metric"]).set_index(["model", "metric"])["valid"]
    assert not valid[("stabn", "deletion_auc")] and valid[("stabn", "insertion_auc")]
    terminal = format_terminal_summary(run)
    assert "deletion_auc ↓ †" in terminal and "insertion_auc ↑ †" not in terminal
    assert "Metric validity (model × metric): 2 pass, 2 fail" in terminal


def test_report_without_validity_file_is_unchanged(tmp_path):
    from report_fixtures import make_results_dir

    from stabn_bench.benchmark.report import write_report

    run = make_results_dir(tmp_path / "run", overlay=False)
    write_report(run, formats=())
    md = (run / "summary.md").read_text()
    assert "Metric validity" not in md and "†" not in md
    assert pd.read_csv(run / "summary.csv")["valid"].isna().all()


def test_complexity_and_robustness_are_bounded_by_their_own_controls(rng):
    noise = lambda: rng.normal(0, 0.01, N_CLIPS)  # noqa: E731
    values = {
        ("m", "oracle", "sparseness"): 0.9 + noise(), ("m", "uniform", "sparseness"): np.zeros(N_CLIPS),
        ("m", "centre-prior", "max_sensitivity"): np.zeros(N_CLIPS),
        ("m", "random", "max_sensitivity"): 1.4 + noise(),
        # controls that do not separate: flagged
        ("m", "oracle", "complexity"): 1.0 + noise(), ("m", "uniform", "complexity"): np.ones(N_CLIPS),
    }
    table = metric_validity(long_scores(values)).set_index("metric")
    assert table.loc["sparseness", "status"] == "pass" and table.loc["sparseness", "controls"] == "oracle > uniform"
    assert table.loc["sparseness", "control_share"] == 1.0 and table.loc["sparseness", "control_high_mean"] > 0.8
    assert table.loc["max_sensitivity", "status"] == "pass"
    assert table.loc["max_sensitivity", "controls"] == "centre-prior > random"  # lower is better: 0 beats 1.4
    assert table.loc["complexity", "status"] == "fail"
    assert "oracle not better than uniform" in table.loc["complexity", "reasons"]
    # a missing control leaves the row unchecked, and the oracle triple is not needed for these families
    partial = metric_validity(long_scores({("m", "oracle", "sparseness"): np.ones(N_CLIPS)}))
    assert partial.iloc[0]["status"] == "unchecked" and "uniform" in partial.iloc[0]["reasons"]


def test_report_html_shows_the_validity_table_rounded_and_coloured_and_writes_the_agreement(tmp_path):
    import re

    from report_fixtures import MODELS, make_results_dir

    from stabn_bench.benchmark.report import load_results, write_report, write_table

    methods = ("gradcam", "saliency", "random", "stabn-attention", "oracle", "inverse-oracle")
    offsets = {}
    for model in MODELS:
        offsets[(model, "oracle", "insertion_auc")] = 0.5
        offsets[(model, "inverse-oracle", "insertion_auc")] = -0.5
        offsets[(model, "oracle", "deletion_auc")] = 0.4
    run = make_results_dir(tmp_path / "run", methods=methods, metrics=("deletion_auc", "insertion_auc"), n_clips=8,
                           offsets=offsets, overlay=False)
    write_table(metric_validity(load_results(run).scores), run / "metric_validity.csv")
    write_report(run, formats=())
    page = (run / "report.html").read_text()
    section = page.split("<h2>Metric validity</h2>")[1].split("<h2>")[0]
    assert 'class="verdict pass"' in section and 'class="verdict fail"' in section
    assert "oracle not better than random" in section  # reasons in words
    assert not re.search(r"\d\.\d{5,}", section), "unrounded floats in the validity table"
    agreement = pd.read_csv(run / "metric_agreement.csv")
    assert list(agreement.columns) == ["model", "metric_a", "metric_b", "kendall_tau", "p_value", "n_methods"]
    assert set(agreement["model"]) == set(MODELS) and (agreement["n_methods"] == 3).all()  # controls not ranked
    assert "Metric agreement" in (run / "summary.md").read_text()
