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
}
RATIO = {"metrics": r"engine/floor = \d", "explain": r"saliency", "train": r"ratio", "data": r"clips/s"}


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["synthetic", "smoke"])
@pytest.mark.parametrize("target", ["metrics", "explain", "train"])
def test_perf_target_runs_on_the_presets(target, preset, tmp_path):
    args = [sys.executable, "-m", "stabn_bench.benchmark.cli", "perf", target, *SMALL[target], "--preset", preset]
    if target == "metrics" and preset == "synthetic":
        args += ["data.num_frames=4", "data.crop=32", "data.resize=32", "model.width=4", "metrics.tube_size=[2,8,8]"]
    if target == "train":
        args = [a for a in args if a not in ("--preset", preset)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert re.search(RATIO[target], done.stdout), done.stdout[-2000:]
    if target == "metrics":
        substrate = "road" if preset in ("synthetic", "smoke") else None
        assert f"{substrate} substrate" in done.stdout  # the substrate the run uses
