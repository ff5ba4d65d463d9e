"""Summary tables, Markdown / LaTeX rendering, result-file round trips and write_report on a fake run folder."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stabn_bench.benchmark.errors import DataError
from stabn_bench.benchmark.report import (
    clip_to_frames, format_terminal_summary, load_results, summary_table, temporal_rows, write_report, write_table,
)
from stabn_bench.benchmark.report.files import read_overlay, write_overlay
from stabn_bench.benchmark.report.tables import best_mask, estimate_table, latex_escape, to_latex, to_markdown
from report_fixtures import METHODS, MODELS, make_results_dir


def _scores(rows):
    return pd.DataFrame(rows, columns=["model", "method", "metric", "clip_id", "value"])


def test_summary_table_means_counts_and_cis():
    scores = _scores([("m", "a", "insertion_auc", "c1", 0.2), ("m", "a", "insertion_auc", "c2", 0.4),
                      ("m", "a", "insertion_auc", "c3", 0.9), ("m", "b", "insertion_auc", "c1", 0.5),
                      ("m", "b", "deletion_auc", "c1", np.nan), ("m", "b", "deletion_auc", "c2", 0.3)])
    table = summary_table(scores, n_resamples=200).set_index(["model", "method", "metric"])
    a = table.loc[("m", "a", "insertion_auc")]
    assert a["mean"] == pytest.approx(0.5) and a["n"] == 3
    assert a["ci_low"] <= 0.5 <= a["ci_high"]
    assert table.loc[("m", "b", "insertion_auc"), "n"] == 1
    assert table.loc[("m", "b", "insertion_auc"), "ci_low"] == table.loc[("m", "b", "insertion_auc"), "ci_high"] == 0.5
    assert table.loc[("m", "b", "deletion_auc"), "mean"] == pytest.approx(0.3)  # NaN ignored
    assert table.loc[("m", "b", "deletion_auc"), "n"] == 1


def test_best_mask_respects_direction_and_ties():
    means = pd.DataFrame({"deletion_auc": [0.30, 0.10, 0.20], "insertion_auc": [0.7, 0.4, 0.7], "unknown": [1, 2, 3]},
                         index=["a", "b", "c"])
    mask = best_mask(means)
    assert mask["deletion_auc"].tolist() == [False, True, False]  # ↓: the smallest is bold
    assert mask["insertion_auc"].tolist() == [True, False, True]  # ↑, tie: both bold
    assert not mask["unknown"].any()  # no direction, no best
    assert best_mask(pd.DataFrame({"insertion_auc": [0.70001, 0.70004]}, index=["a", "b"]))["insertion_auc"].all()


def test_estimate_table_renders_bold_best_and_arrows():
    scores = _scores([(m_, meth, "deletion_auc", f"c{i}", v + 0.01 * i) for m_ in ["m"]
                      for meth, v in [("a", 0.5), ("b", 0.2)] for i in range(4)])
    summary = summary_table(scores, n_resamples=100)
    md = to_markdown(estimate_table(summary, "m", ["deletion_auc"], ["a", "b"]))
    assert "deletion_auc ↓" in md
    line_b = next(line for line in md.splitlines() if line.startswith("| b "))
    line_a = next(line for line in md.splitlines() if line.startswith("| a "))
    assert "**0.215 ±" in line_b and "**" not in line_a
    tex = to_latex(estimate_table(summary, "m", ["deletion_auc"], ["a", "b"]))
    assert r"deletion\_auc $\downarrow$" in tex and r"\textbf{0.215 $\pm$" in tex
    assert r"\toprule" in tex and r"\bottomrule" in tex


def test_latex_escape():
    assert latex_escape("stabn_attention") == r"stabn\_attention"
    assert latex_escape("50% & $x$ #1 {a} ~^\\") == (
        r"50\% \& \$x\$ \#1 \{a\} \textasciitilde{}\textasciicircum{}\textbackslash{}")
    assert latex_escape("↑ ↓ ±") == r"$\uparrow$ $\downarrow$ $\pm$"


def test_temporal_rows_normalise_per_clip():
    importance = np.array([[1.0, 3.0, 2.0], [5.0, 5.0, 5.0]])
    rows = temporal_rows("m", "x", ["a", "b"], importance, np.array([[0, 1, 1], [1, 0, 0]]))
    assert rows["importance"].tolist() == [0.0, 1.0, 0.5, 0.5, 0.5, 0.5]
    assert rows["frame"].tolist() == [0, 1, 2, 0, 1, 2]
    assert rows["in_window"].tolist() == [0, 1, 1, 1, 0, 0]
    assert temporal_rows("m", "x", ["a"], importance[:1])["in_window"].isna().all()


def test_table_round_trip_and_bad_files(tmp_path):
    scores = _scores([("m", "a", "insertion_auc", "007", 0.25)])
    write_table(scores, tmp_path / "scores.csv")
    back = load_results(tmp_path).scores
    assert back["clip_id"].tolist() == ["007"]  # clip ids stay text
    assert back["value"].tolist() == [0.25]
    with pytest.raises(DataError, match="missing columns"):
        write_table(scores.drop(columns="value"), tmp_path / "scores.csv")
    (tmp_path / "curves.csv").write_text("model,method,metric,clip_id,fraction\nm,a,deletion,c,0.1\n")
    with pytest.raises(DataError, match=r"curves.csv: missing columns \['score'\]"):
        load_results(tmp_path)
    (tmp_path / "curves.csv").write_text("model,method,metric,clip_id,fraction,score\nm,a,deletion,c,half,0.1\n")
    with pytest.raises(DataError, match="column 'fraction' row 2 holds 'half'"):
        load_results(tmp_path)
    with pytest.raises(DataError, match="results folder does not exist"):
        load_results(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no scores.csv"):
        load_results(tmp_path / "empty")


def test_overlay_round_trip(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (4, 6, 5, 3), dtype=np.uint8)
    evidence = np.zeros((4, 6, 5))
    evidence[1, 2:4, 1:3] = 1
    maps = {("stabn", "stabn-attention"): np.linspace(0, 1, 120).reshape(4, 6, 5)}
    path = write_overlay(tmp_path, "video/12", frames, evidence, maps, meta={"label": 3})
    assert path.name == "video_12.npz"
    overlay = read_overlay(path)
    assert overlay.clip_id == "video/12" and overlay.meta["label"] == 3
    np.testing.assert_array_equal(overlay.frames, frames)
    np.testing.assert_array_equal(overlay.evidence, evidence)
    np.testing.assert_allclose(overlay.maps[("stabn", "stabn-attention")], maps[("stabn", "stabn-attention")], atol=1e-3)
    with pytest.raises(ValueError, match="has shape"):
        write_overlay(tmp_path, "bad", frames, evidence[:2], maps)


@pytest.mark.slow
def test_write_report_writes_every_file(tmp_path):
    run = make_results_dir(tmp_path / "run")
    written = write_report(run, formats=("png", "pdf"))
    names = {p.relative_to(run).as_posix() for p in written}
    expected = {"summary.csv", "paired_tests.csv", "summary.md", "summary.tex"}
    for stem in ["curve_deletion", "curve_insertion", "metric_deletion_auc", "metric_insertion_auc",
                 "metric_pointing_game", "temporal_importance", *[f"overlay_clip000_{m}" for m in MODELS]]:
        expected |= {f"figures/{stem}.png", f"figures/{stem}.pdf"}
        assert (run / "figures" / f"{stem}.txt").read_text().strip()  # the caption beside the figure
    expected |= {"tables/main.tex", "tables/accuracy.tex", "tables/deletion_auc.tex", "report.html"}
    assert expected <= names
    assert not any("deletion_random" in name for name in names)  # the random-order curve is a reference line only
    assert not any(name.startswith("figures/accuracy") for name in names)  # accuracy is a table, not an image
    for path in written:
        assert path.stat().st_size > 0
    assert (run / "figures" / "curve_deletion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run / "figures" / "curve_deletion.pdf").read_bytes()[:5] == b"%PDF-"

    md = (run / "summary.md").read_text()
    assert "## Accuracy" in md and "## Model: stabn" in md and "Model-level metrics" in md
    assert "shuffle_prediction_change ↑" in md and "Paired tests" in md and "Average ranks" in md
    # stabn-attention is the best method on every metric of the fake run: bold in the deletion (↓) column
    for model in MODELS:
        section = md.split(f"## Model: {model}")[1]
        row = next(line for line in section.splitlines() if line.startswith("| stabn-attention"))
        assert row.split("|")[2].strip().startswith("**")
    assert "200 resamples" in md  # settings come from config.yaml
    assert "Errors: 1 failed evaluation (explain: 1)" in md

    tex = (run / "summary.tex").read_text()
    assert tex.count(r"\begin{table}") == tex.count(r"\end{table}") > 4
    assert "[H]" not in tex and "resizebox" not in tex and "tab:stabn-bench-" not in tex
    assert r"\label{tab:summary:model-stabn-faithfulness-metrics}" in tex
    assert r"deletion\_auc $\downarrow$" in tex and "deletion_auc" not in tex.replace(r"deletion\_auc", "")

    paired = pd.read_csv(run / "paired_tests.csv").set_index(["model", "metric", "method_a", "method_b"])
    assert len(paired) == 2 * 3 * 3  # models × metrics × method pairs
    assert paired.loc[("stabn", "insertion_auc", "gradcam", "stabn-attention"), "better"] == "stabn-attention"
    assert paired.loc[("stabn", "deletion_auc", "gradcam", "random"), "better"] == "gradcam"

    summary = pd.read_csv(run / "summary.csv")
    scores = load_results(run).scores
    expected_mean = scores[(scores.model == "stabn") & (scores.method == "gradcam") & (scores.metric == "insertion_auc")]["value"].mean()
    got = summary[(summary.model == "stabn") & (summary.method == "gradcam") & (summary.metric == "insertion_auc")]["mean"].item()
    assert got == pytest.approx(expected_mean)


def test_terminal_summary_lists_accuracy_and_headline_scores(tmp_path):
    run = make_results_dir(tmp_path / "run", overlay=False)
    text = format_terminal_summary(run)
    assert "top-1" in text and "deletion_auc ↓" in text and "pointing_game ↑" in text
    assert "temporal_auroc" not in text  # absent from the run
    assert str(run / "summary.md") in text
    best_line = next(line for line in text.splitlines() if line.startswith("stabn") and "stabn-attention" in line)
    assert best_line.count("*") == 3  # best on all three headline metrics present


def test_write_report_rejects_unknown_selection(tmp_path):
    from stabn_bench.benchmark.errors import StabnBenchError

    run = make_results_dir(tmp_path / "run", overlay=False)
    with pytest.raises(StabnBenchError, match=r"method\(s\) \['nope'\].*" + METHODS[0]):
        write_report(run, methods=["nope"])


def test_clip_to_frames_undoes_imagenet_normalisation():
    import torch

    rgb = np.random.default_rng(0).integers(0, 256, (2, 4, 5, 3)).astype(np.float32) / 255  # (T, H, W, 3)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    clip = torch.from_numpy(((rgb - mean) / std).transpose(3, 0, 1, 2).astype(np.float32))  # (C, T, H, W)
    frames = clip_to_frames(clip)
    assert frames.dtype == np.uint8 and frames.shape == (2, 4, 5, 3)
    np.testing.assert_array_equal(frames, np.rint(rgb * 255).astype(np.uint8))


# ---------------------------------------------------------------- paper tables and report.html

def check_latex(text: str, folder) -> list[str]:
    """Problems of a LaTeX source: unbalanced braces (escaped ``\\{`` ignored), environments not closed in order,
    ``\\input`` targets missing from ``folder``. Comments are skipped."""
    import re

    problems, stack, depth = [], [], 0
    for number, line in enumerate(text.splitlines(), start=1):
        line = re.sub(r"(?<!\\)%.*", "", line)
        for token in re.finditer(r"\\\\|\\[{}]|[{}]|\\begin\{([^}]*)\}|\\end\{([^}]*)\}|\\input\{([^}]*)\}", line):
            if token.group(1):
                stack.append(token.group(1))
            elif token.group(2):
                if not stack or stack.pop() != token.group(2):
                    problems.append(f"line {number}: \\end{{{token.group(2)}}} does not close the open environment")
            elif token.group(3):
                target = folder / token.group(3)
                if not (target.exists() or target.with_suffix(".tex").exists()):
                    problems.append(f"line {number}: \\input target {token.group(3)} missing")
            if token.group(0) in "{}":  # the \begin / \end / \input braces are part of their match
                depth += 1 if token.group(0) == "{" else -1
                if depth < 0:
                    problems.append(f"line {number}: unbalanced }}")
                    depth = 0
    problems += [f"environment {env} never closed" for env in stack]
    if depth:
        problems.append(f"{depth} unclosed brace(s)")
    return problems


def test_latex_checker_finds_problems(tmp_path):
    good = "\\begin{table}\\caption{a {b} \\{}\\end{table}"
    assert check_latex(good, tmp_path) == []
    assert check_latex("\\begin{table}\\begin{tabular}{l}\\end{table}", tmp_path)
    assert check_latex("\\textbf{x", tmp_path) == ["1 unclosed brace(s)"]
    assert check_latex("\\input{nope.tex}", tmp_path)


def _significance_run(tmp_path, flagged=False):
    """8 clips; stabn-spatial is stabn-attention's equal on insertion_auc (only noise differs), gradcam is clearly
    worse, random is a control."""
    methods = ("stabn-attention", "stabn-spatial", "gradcam", "random")
    offsets = {(m, "stabn-spatial", "insertion_auc"): 0.6 * (0.8 - 0.3) for m in MODELS}
    run = make_results_dir(tmp_path / "sig", methods=methods, n_clips=8, offsets=offsets, overlay=False)
    if flagged:
        from stabn_bench.metrics.validity import VALIDITY_COLUMNS

        rows = pd.DataFrame({"model": ["stabn", "stabn"], "metric": ["insertion_auc", "deletion_auc"],
                             "status": ["fail", "pass"], "reasons": ["x", ""]})
        rows.reindex(columns=VALIDITY_COLUMNS).to_csv(run / "metric_validity.csv", index=False)
    return run


def test_latex_tables_bold_by_significance_and_compile_cleanly(tmp_path):
    from stabn_bench.benchmark.report.latex import write_latex_tables

    run = _significance_run(tmp_path)
    results = load_results(run)
    summary = summary_table(results.scores, n_resamples=200)
    files = write_latex_tables(results, summary)
    folder = run / "tables"
    assert files[-1] == folder / "main.tex"
    names = sorted(p.name for p in files)
    assert names == ["accuracy.tex", "deletion_auc.tex", "headline-baseline.tex", "headline-stabn.tex",
                     "insertion_auc.tex", "main.tex", "pointing_game.tex"]
    labels = []
    for path in files:
        text = path.read_text()
        assert check_latex(text, folder) == [], path.name
        assert "resizebox" not in text and "[H]" not in text and "-0.000" not in text
        labels += [line.split("{", 1)[1].rstrip("}") for line in text.splitlines() if line.startswith("\\label")]
    assert len(labels) == len(set(labels)) == len(files) - 1
    assert "tab:sig:insertion_auc" in labels and "tab:sig:headline-stabn" in labels and "tab:sig:accuracy" in labels
    main = (folder / "main.tex").read_text()
    assert main.count("\\input{") == len(files) - 1 and "\\documentclass" in main and "\\end{document}" in main

    rows = {line.split(" & ")[0]: line.split(" & ")[1:] for line in (folder / "insertion_auc.tex").read_text().splitlines()
            if " & " in line and not line.startswith("method")}
    stabn = 1  # columns: baseline, stabn
    assert rows["stabn-attention"][stabn].startswith("\\textbf") and rows["stabn-spatial"][stabn].startswith("\\textbf")
    assert "textbf" not in rows["gradcam"][stabn] and "textbf" not in rows["random"][stabn]
    assert "Wilcoxon" in (folder / "insertion_auc.tex").read_text() and "Holm" in (folder / "insertion_auc.tex").read_text()


@pytest.mark.slow
def test_flagged_metrics_get_a_dagger_and_no_bold(tmp_path):
    from stabn_bench.benchmark.report.flags import flagged_metrics

    run = _significance_run(tmp_path, flagged=True)
    assert flagged_metrics(run) == {("stabn", "insertion_auc")}
    write_report(run, formats=("png",))
    text = (run / "tables" / "insertion_auc.tex").read_text()
    header = next(line for line in text.splitlines() if line.startswith("method"))
    assert header.endswith("stabn$^\\dagger$ \\\\") and "validity check" in text
    stabn_cells = [line.split(" & ")[2] for line in text.splitlines() if " & " in line and not line.startswith("method")]
    assert not any("textbf" in cell for cell in stabn_cells)
    assert any("textbf" in line.split(" & ")[1] for line in text.splitlines() if " & " in line)  # baseline still bold
    page = (run / "report.html").read_text()
    assert "Metric validity" in page and "†" in page


def test_numbers_never_print_negative_zero():
    from stabn_bench.benchmark.report.tables import format_estimate, format_number

    assert format_number(-0.0001) == "0.000" and format_number(-0.0006) == "-0.001"
    assert format_estimate(-0.0004, -0.01, 0.01) == "0.000 ± 0.010"


@pytest.mark.slow
def test_report_html_is_self_contained_and_every_image_decodes(tmp_path):
    import base64
    import io
    from html.parser import HTMLParser

    from PIL import Image

    run = make_results_dir(tmp_path / "run")
    write_report(run, formats=("pdf",))  # no PNG on disk: the page draws its own

    class Collector(HTMLParser):
        VOID = {"meta", "img", "br", "hr", "input", "link"}

        def __init__(self):
            super().__init__()
            self.stack, self.images, self.tables, self.errors = [], [], 0, []

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "img":
                self.images.append(attrs["src"])
            if tag == "table" and "sortable" in attrs.get("class", ""):
                self.tables += 1
            if tag not in self.VOID:
                self.stack.append(tag)

        def handle_endtag(self, tag):
            if not self.stack or self.stack.pop() != tag:
                self.errors.append(tag)

    page = (run / "report.html").read_text()
    parser = Collector()
    parser.feed(page)
    parser.close()
    assert parser.errors == [] and parser.stack == []
    assert "http://" not in page and "https://" not in page  # nothing fetched from a network
    assert parser.tables == 1 + len(MODELS)  # accuracy + one score table per model
    animations = 0
    for src in parser.images:
        head, payload = src.split(",", 1)
        assert head.startswith("data:image/") and head.endswith(";base64")
        image = Image.open(io.BytesIO(base64.b64decode(payload)))
        image.load()
        frames = getattr(image, "n_frames", 1)
        for k in range(frames):
            image.seek(k)
            image.convert("RGB")
        animations += frames > 1
    figures = len(list((run / "figures").glob("*.pdf")))
    assert len(parser.images) - animations == figures  # every figure, drawn as PNG for the page
    assert animations == len(MODELS) * (len(METHODS) + 1)  # per model: the input video and every method's map
    assert "Moving something from left to right" in page  # class names, not label numbers


@pytest.mark.slow
def test_report_command_rewrites_the_report(tmp_path, capsys):
    from stabn_bench.benchmark.cli import main

    run = make_results_dir(tmp_path / "run", overlay=False)
    assert main(["report", str(run), "--format", "png"]) == 0
    assert (run / "report.html").exists() and (run / "tables" / "main.tex").exists()
    assert "report.html" in capsys.readouterr().out


def test_extra_columns_unknown_methods_and_metrics_do_not_break_the_report(tmp_path):
    from stabn_bench.benchmark.report.plots import curve_figure
    from stabn_bench.benchmark.report.style import method_styles, plt

    methods = ("gradcam", "random", "my-plugin")  # my-plugin: unknown to the registry
    run = make_results_dir(tmp_path / "run", methods=methods, metrics=("deletion_auc", "brand_new_score"),
                           overlay=False)
    for stem in ("scores", "curves"):
        table = pd.read_csv(run / f"{stem}.csv", dtype={"clip_id": str})
        pd.concat([table.assign(seed=0), table.assign(seed=1)]).to_csv(run / f"{stem}.csv", index=False)
    written = write_report(run, formats=(), html=False)
    names = {p.name for p in written}
    assert {"brand_new_score.tex", "deletion_auc.tex", "main.tex"} <= names
    text = (run / "tables" / "brand_new_score.tex").read_text()
    assert "my-plugin" in text and "textbf" not in text  # direction unknown: nothing is bold
    results = load_results(run)
    fig = curve_figure(results.curves, "deletion", method_styles(results.methods), n_resamples=20,
                       reference=results.curves[results.curves["metric"] == "deletion_random"])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    plt.close(fig)
    assert titles[-1] == "Other"  # the plug-in gets its own panel, not the controls'
