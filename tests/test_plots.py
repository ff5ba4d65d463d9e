"""Figure style (24 distinct method styles, print-size fonts, kinds from the registry), the figures, and
``stabn-bench plot``."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from stabn_bench.benchmark.cli import main
from stabn_bench.benchmark.report import load_results, summary_table
from stabn_bench.benchmark.report.files import read_overlay
from stabn_bench.benchmark.report.groups import method_order
from stabn_bench.benchmark.report.plots import (
    align_to_window, curve_figure, curve_matrix, families_of, metric_figure, overlay_caption, overlay_figure,
    temporal_figure,
)
from stabn_bench.benchmark.report.style import (
    COLOURS, DOUBLE_COLUMN, PINNED, SINGLE_COLUMN, apply_style, check_fonts, method_kind, method_styles, metric_label,
    plt,
)
from report_fixtures import fake_curves, make_results_dir

BUILT_IN = ["stabn-attention", "stabn-spatial", "stabn-temporal", "gradcam", "guided-gradcam", "saliency",
            "input-x-gradient", "guided-backprop", "integrated-gradients", "smoothgrad", "occlusion",
            "feature-ablation", "random", "centre-prior", "motion"]
#: 24 methods: the 15 built-in ones, the two oracles, and plug-ins the registry does not know
TWENTY_FOUR = BUILT_IN + ["oracle", "inverse-oracle", "rise-random-masks", "lime-video", "extremal-perturbation",
                          "score-cam", "my-method", "attention-rollout", "deeplift"]


def _style_key(style):
    return (style.colour, style.marker, str(style.linestyle))


def test_24_methods_get_24_distinct_styles_that_do_not_depend_on_the_company():
    assert len(TWENTY_FOUR) == 24
    styles = method_styles(TWENTY_FOUR)
    assert len({_style_key(s) for s in styles.values()}) == 24
    assert {s.colour for s in styles.values()} <= set(COLOURS)  # Okabe-Ito and greys only
    # stable: the same method looks the same whatever else is drawn, in whatever order
    for subset in (TWENTY_FOUR[::-1], TWENTY_FOUR[5:12], ["gradcam", "rise-random-masks"]):
        assert {m: _style_key(s) for m, s in method_styles(subset).items()} == \
               {m: _style_key(styles[m]) for m in subset}
    assert len(set(PINNED.values())) == len(PINNED)


def test_rendered_legend_of_24_methods_has_24_distinct_handles():
    apply_style()
    curves = fake_curves(models=("stabn",), methods=TWENTY_FOUR, n_clips=2)
    reference = curves[curves["metric"] == "deletion_random"]
    fig = curve_figure(curves, "deletion", method_styles(TWENTY_FOUR), n_resamples=20, reference=reference)
    try:
        handles = fig.legends[0].legend_handles
        keys = {h.get_label(): (h.get_color(), h.get_marker(), str(h.get_linestyle())) for h in handles}
        assert set(keys) == set(TWENTY_FOUR) | {"random order"}
        assert len(set(keys.values())) == 25
        # every drawn line of a method carries its legend style; the random-order reference is in every panel
        for ax in fig.axes:
            labels = [line.get_label() for line in ax.get_lines()]
            assert "random order" in labels
        assert check_fonts(fig) == []
        assert fig.get_figwidth() == pytest.approx(DOUBLE_COLUMN)
        assert fig._suptitle is None  # no figure titles: the caption goes beside the file
    finally:
        plt.close(fig)


def test_families_come_from_the_registry_not_from_names():
    assert method_kind("gradcam") == "cam" and method_kind("random") == "control"
    assert method_kind("stabn-attention") == "attention" and method_kind("occlusion") == "perturbation"
    assert method_kind("rise-random-masks") == "other"  # unknown to the registry: not guessed to be a control
    families, references = families_of(["gradcam", "saliency", "random", "motion", "rise-random-masks"])
    assert families == ["cam", "gradient", "other"] and references == ["motion", "random"]
    assert families_of(["random"]) == (["control"], ["random"])


def test_metric_labels_are_human_with_catalog_arrows():
    assert metric_label("deletion_auc") == "Deletion AUC ↓"
    assert metric_label("insertion_auc_tube") == "Insertion AUC (tube) ↑"
    assert metric_label("temporal_auroc", arrow=False) == "Temporal AUROC"
    assert metric_label("some_new_metric") == "Some new metric"  # unknown: readable, no arrow


def test_every_figure_uses_print_sizes_and_fonts_of_at_least_7pt(tmp_path):
    apply_style()
    run = make_results_dir(tmp_path / "run")
    results = load_results(run)
    summary = summary_table(results.scores, n_resamples=20)
    styles = method_styles(results.methods)
    overlay = read_overlay(results.overlays[0])
    figures = [
        metric_figure(summary, ["deletion_auc"], styles),
        temporal_figure(results.temporal, styles, n_resamples=20),
        overlay_figure(overlay, "stabn", method_order(m for mo, m in overlay.maps if mo == "stabn")),
    ]
    try:
        for fig in figures:
            assert check_fonts(fig) == []
            assert fig.get_figwidth() in (pytest.approx(SINGLE_COLUMN), pytest.approx(DOUBLE_COLUMN))
        # the x axis of the AUC panels is shared across models
        axes = figures[0].axes
        assert len(axes) == 2 and axes[0].get_xlim() == axes[1].get_xlim()
    finally:
        for fig in figures:
            plt.close(fig)
    caption = overlay_caption(overlay, "stabn", True)
    assert "Moving something from left to right" in caption and "label" not in caption


def test_curve_matrix_interpolates_onto_common_grid():
    curves = pd.DataFrame({
        "clip_id": ["a", "a", "a", "b", "b"],
        "fraction": [0.0, 0.5, 1.0, 1.0, 0.0],  # clip b unsorted, two points only
        "score": [1.0, 0.5, 0.0, 0.0, 0.8],
    })
    grid = np.array([0.0, 0.25, 0.5, 1.0])
    matrix = curve_matrix(curves, grid)
    np.testing.assert_allclose(matrix, [[1.0, 0.75, 0.5, 0.0], [0.8, 0.6, 0.4, 0.0]])


def test_align_to_window_offsets_frames():
    temporal = pd.DataFrame({"model": "m", "method": "x", "clip_id": ["a"] * 4 + ["b"] * 4, "frame": [0, 1, 2, 3] * 2,
                             "importance": 0.5, "in_window": [0, 0, 1, 1, 1, 1, 0, 0]})
    assert align_to_window(temporal)["offset"].tolist() == [-2, -1, 0, 1, 0, 1, 2, 3]


@pytest.mark.slow
def test_plot_command_redraws_selected_figures_as_svg(tmp_path, capsys):
    run = make_results_dir(tmp_path / "run")
    out = tmp_path / "paper_figures"
    code = main(["plot", str(run), "--format", "svg", "--methods", "gradcam", "stabn-attention",
                 "--metrics", "deletion_auc", "--out", str(out)])
    assert code == 0
    names = sorted(p.name for p in out.iterdir() if p.suffix == ".svg")
    assert names == ["curve_deletion.svg", "metric_deletion_auc.svg", "overlay_clip000_baseline.svg",
                     "overlay_clip000_stabn.svg", "temporal_importance.svg"]
    assert sorted(p.stem for p in out.glob("*.txt")) == [n[:-4] for n in names]  # a caption beside each figure
    svg = (out / "metric_deletion_auc.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "stabn-attention" in svg and "random" not in svg
    assert not (run / "figures").exists()  # nothing written beside the tables when --out is given
    assert "wrote 5 figure files" in capsys.readouterr().out


@pytest.mark.slow
def test_plot_format_before_the_folder_and_quiet_third_party_logs(tmp_path, capsys):
    run = make_results_dir(tmp_path / "run", overlay=False)
    assert main(["plot", "--format", "pdf", str(run), "--metrics", "deletion_auc"]) == 0
    assert (run / "figures" / "curve_deletion.pdf").read_bytes()[:5] == b"%PDF-"
    assert not (run / "figures" / "curve_deletion.png").exists()
    assert main(["plot", str(run), "--format", "png,svg", "--metrics", "pointing_game"]) == 0
    assert (run / "figures" / "metric_pointing_game.svg").exists()
    for name in ("matplotlib", "matplotlib.font_manager", "PIL.PngImagePlugin", "fontTools.subset"):
        assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING
    assert logging.getLogger("stabn_bench.pipeline").getEffectiveLevel() <= logging.INFO


def test_plot_command_errors_are_one_line(tmp_path, capsys):
    run = make_results_dir(tmp_path / "run", overlay=False)
    assert main(["plot", str(run), "--metrics", "no_such_metric"]) == 1
    err = capsys.readouterr().err
    assert "no_such_metric" in err and "deletion_auc" in err and len(err.strip().splitlines()) == 1
    assert main(["plot", str(tmp_path / "absent")]) == 1
    assert "results folder does not exist" in capsys.readouterr().err
    assert main(["plot", "--format", "gif", str(run)]) == 2
    assert "choose from png, pdf, svg" in capsys.readouterr().err


def test_curve_and_metric_names_split_into_parts():
    from stabn_bench.benchmark.report.plots import curve_auc_metric, parse_curve
    from stabn_bench.benchmark.report.summary import metric_groups
    from stabn_bench.benchmark.report.tables import split_variant

    assert parse_curve("deletion") == ("deletion", "", None)
    assert parse_curve("deletion_random_voxel") == ("deletion", "random", "voxel")
    assert parse_curve("frame_insertion_random") == ("frame_insertion", "random", None)
    assert parse_curve("deletion_lerf") == ("deletion", "lerf", None)
    assert curve_auc_metric("insertion_tube") == "insertion_auc_tube"
    assert curve_auc_metric("frame_deletion") == "frame_deletion_auc"
    assert split_variant("deletion_auc_vs_random_voxel") == ("deletion_auc_vs_random", "voxel")
    assert split_variant("frame_deletion_auc") == ("frame_deletion_auc", None)
    groups = metric_groups(["insertion_auc_voxel", "pointing_game", "deletion_auc", "insertion_auc", "temporal_auroc"])
    assert groups == [("faithfulness", None, ["deletion_auc", "insertion_auc"]),
                      ("faithfulness", "voxel", ["insertion_auc_voxel"]),
                      ("localisation", None, ["pointing_game", "temporal_auroc"])]


def test_robust_normalisation_is_not_dominated_by_a_few_voxels():
    import numpy as np

    from stabn_bench.benchmark.report.style import robust_normalise

    values = np.linspace(0, 1, 1000, dtype=np.float32).reshape(10, 10, 10)
    values[0, 0, 0] = 1000.0  # one extreme voxel
    norm = robust_normalise(values)
    assert norm.min() == 0.0 and norm.max() == 1.0
    assert np.median(norm) > 0.4  # min-max would put the median near 0.0005
    sparse = np.zeros((4, 10, 10), np.float32)
    sparse[0, 0, :3] = [1.0, 2.0, 4.0]  # under 1 % of voxels non-zero: the maximum tops the scale
    assert robust_normalise(sparse).max() == 1.0 and robust_normalise(sparse)[0, 0, 1] == 0.5
    assert (robust_normalise(np.full((2, 3, 3), 7.0)) == 0).all()


def test_figures_drawn_in_two_processes_are_the_files_one_process_draws(tmp_path):
    from stabn_bench.benchmark.report import write_figures

    run = make_results_dir(tmp_path / "run")
    one = write_figures(run, formats=("png",), metrics=["deletion_auc"], out_dir=tmp_path / "one", workers=1)
    two = write_figures(run, formats=("png",), metrics=["deletion_auc"], out_dir=tmp_path / "two", workers=2)
    assert [p.name for p in one] == [p.name for p in two] and len(one) >= 4  # the same figures, in job order
    for a, b in zip(one, two):
        assert a.read_bytes() == b.read_bytes(), a.name
        assert (a.with_suffix(".txt")).read_text() == (b.with_suffix(".txt")).read_text()
