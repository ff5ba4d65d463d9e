"""Figure helpers (palette, curve interpolation, window alignment) and ``stabn-bench plot``."""
from __future__ import annotations

import numpy as np
import pandas as pd

from stabn_bench.benchmark.cli import main
from stabn_bench.benchmark.report.plots import align_to_window, curve_matrix
from stabn_bench.benchmark.report.groups import method_order
from stabn_bench.benchmark.report.style import method_palette
from report_fixtures import make_results_dir


def test_palette_one_colour_per_method_controls_grey():
    methods = ["random", "gradcam", "stabn-attention", "centre-prior", "integrated-gradients", "stabn-spatial"]
    palette = method_palette(methods)
    assert len(set(map(str, palette.values()))) == len(methods)
    assert method_order(methods)[:2] == ["stabn-attention", "stabn-spatial"]
    assert method_order(methods)[-2:] == ["centre-prior", "random"]
    for control in ("random", "centre-prior"):
        r, g, b = [int(palette[control][i:i + 2], 16) for i in (1, 3, 5)]
        assert r == g == b  # grey
    # the same method keeps its colour whatever order the names come in
    assert method_palette(reversed(methods)) == palette


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


def test_plot_command_redraws_selected_figures_as_svg(tmp_path, capsys):
    run = make_results_dir(tmp_path / "run")
    out = tmp_path / "paper_figures"
    code = main(["plot", str(run), "--format", "svg", "--methods", "gradcam", "stabn-attention",
                 "--metrics", "deletion_auc", "--out", str(out)])
    assert code == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["accuracy.svg", "curve_deletion.svg", "metric_deletion_auc.svg", "overlay_clip000_baseline.svg",
                     "overlay_clip000_stabn.svg", "temporal_importance.svg"]
    svg = (out / "metric_deletion_auc.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "stabn-attention" in svg and "random" not in svg
    assert not (run / "figures").exists()  # nothing written beside the tables when --out is given
    assert "wrote 6 figure files" in capsys.readouterr().out


def test_plot_command_errors_are_one_line(tmp_path, capsys):
    run = make_results_dir(tmp_path / "run", overlay=False)
    assert main(["plot", str(run), "--metrics", "no_such_metric"]) == 1
    err = capsys.readouterr().err
    assert "no_such_metric" in err and "deletion_auc" in err and len(err.strip().splitlines()) == 1
    assert main(["plot", str(tmp_path / "absent")]) == 1
    assert "results folder does not exist" in capsys.readouterr().err


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
