"""Every ``stabn-bench perf`` target runs on the default config and on the smoke preset, and prints its ratios."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

SMALL = {  # each target at its smallest useful size
    "metrics": ["--clips", "2", "--rounds", "1", "--batch-sizes", "2", "4"],
    "explain": ["--clips", "1", "--methods", "saliency", "random", "--repeats", "1", "--min-seconds", "0"],
    "train": ["--depth", "18", "--width", "4", "--frames", "4", "--size", "32", "--batch", "2", "--repeats", "1"],
    "data": ["--clips", "8", "--workers", "0"],
    "score": ["--methods", "saliency", "random", "gradcam"],
}
RATIO = {"metrics": r"engine/floor = \d", "explain": r"saliency", "train": r"channels_last_speedup train = \d",
         "data": r"clips/s", "score": r"deletion +[\d.]+ +\d+ +\d+ +[\d.]+ +[\d.]+"}


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["synthetic", "smoke"])
@pytest.mark.parametrize("target", ["metrics", "explain", "train", "score"])
def test_perf_target_runs_on_the_presets(target, preset, tmp_path):
    args = [sys.executable, "-m", "stabn_bench.benchmark.cli", "perf", target, *SMALL[target], "--preset", preset]
    if target == "metrics" and preset == "synthetic":
        args += ["data.num_frames=4", "data.crop=32", "data.resize=32", "model.width=4", "metrics.tube_size=[2,8,8]"]
    if target == "score":  # the default preset's settings at a tiny clip and model size
        args += ["data.num_frames=4", "data.crop=32", "data.resize=32", "model.width=4", "explain.batch_size=2",
                 "metrics.tube_size=[2,8,8]"] if preset == "synthetic" else []
    if target == "train":
        args = [a for a in args if a not in ("--preset", preset)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert re.search(RATIO[target], done.stdout), done.stdout[-2000:]
    if target == "metrics":
        substrate = "road" if preset in ("synthetic", "smoke") else None
        assert f"{substrate} substrate" in done.stdout  # the substrate the run uses


def test_perf_score_prints_the_split_a_run_recorded_and_escapes_its_names(tmp_path, capsys):
    import json

    from stabn_bench.benchmark.cli import main

    costs = {"stabn:saliency": {"explain": [1.5, 0, 0, 0.0], "score": [4.0, 30, 10, 3.0],
                                "score/deletion": [2.0, 20, 0, 1.8], "score/insertion": [2.0, 10, 10, 1.2]},
             "stabn:evil\x1b[31m": {"explain": [0.5, 0, 0, 0.0]}}
    (tmp_path / "provenance.json").write_text(json.dumps({"explain_costs": costs}))
    assert main(["perf", "score", "--run", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "evil\\x1b[31m" in out
    deletion = next(line for line in out.splitlines() if line.startswith("deletion "))
    assert deletion.split()[1:5] == ["2.00", "20", "0", "100.00"]  # seconds, forwards, memo, ms per forward
    assert "total: 6.0 s, 30 scoring forwards (10 answered by the memo)" in out
    (tmp_path / "provenance.json").write_text(json.dumps({"explain_costs": {"m": {"explain": "x"}}}))
    assert main(["perf", "score", "--run", str(tmp_path)]) != 0
    assert "is not a table of [seconds, forwards, reused, forward seconds]" in capsys.readouterr().err
