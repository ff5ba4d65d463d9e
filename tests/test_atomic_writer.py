"""The one atomic writer: UTF-8 whatever the locale, a full disk as one line naming the path, no temporaries left."""
from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest
import torch

from stabn_bench import core
from stabn_bench.benchmark import runtime
from stabn_bench.benchmark.errors import StabnBenchError
from stabn_bench.benchmark.models import build_model
from stabn_bench.benchmark.training.checkpoint import read_checkpoint, save_checkpoint


def _disk_full_open(real_open):
    def fake(file, mode="r", *args, **kwargs):
        if "w" in mode:
            raise OSError(errno.ENOSPC, "No space left on device", str(file))
        return real_open(file, mode, *args, **kwargs)
    return fake


def test_text_is_utf8_whatever_the_locale(tmp_path):
    path = tmp_path / "out.md"
    code = ("import sys; from stabn_bench.benchmark.runtime import atomic_write_text; "
            "atomic_write_text(sys.argv[1], 'caf\\u00e9 \\u2191 \\u00b1')")
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": "ascii"}
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=env)
    assert path.read_bytes() == "café ↑ ±".encode("utf-8")


def test_full_disk_is_one_line_naming_the_path_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "table.csv"
    path.write_text("old\n")
    monkeypatch.setattr(runtime, "open", _disk_full_open(open), raising=False)
    with pytest.raises(StabnBenchError, match="table.csv.*no space left") as info:
        runtime.atomic_write_text(path, "new\n")
    assert "\n" not in str(info.value)
    assert path.read_text() == "old\n"  # the previous version is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


def test_checkpoint_on_a_full_disk(tmp_path, monkeypatch):
    model = build_model("baseline", num_classes=2, depth=18, width=2, num_frames=4)
    monkeypatch.setattr(runtime, "open", _disk_full_open(open), raising=False)
    with pytest.raises(StabnBenchError, match="last.pt.*no space left"):
        save_checkpoint(tmp_path / "last.pt", model, {"epoch": 1})
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    save_checkpoint(tmp_path / "last.pt", model, {"epoch": 1})
    assert read_checkpoint(tmp_path / "last.pt")["meta"]["epoch"] == 1


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    sub = tmp_path / "figures"
    sub.mkdir()
    stale = [tmp_path / f".last.pt.{dead.pid}-abc123xy.pt.tmp", sub / f".curve.png.{dead.pid}-q1w2e3r4.png.tmp"]
    live = tmp_path / f".best.pt.{os.getpid()}-zzzzzzzz.pt.tmp"
    foreign = [tmp_path / ".notes.tmp", tmp_path / "data.tmp", tmp_path / f".x.{dead.pid}.tmp"]
    for path in [*stale, live, *foreign]:
        path.write_bytes(b"")
    removed = runtime.remove_stale_temporaries(tmp_path)
    assert sorted(removed) == sorted(stale)
    assert live.exists() and all(p.exists() for p in foreign)
    assert runtime.remove_stale_temporaries(tmp_path, recursive=False) == []


def test_atomic_path_names_its_temporary_with_the_pid(tmp_path):
    with runtime.atomic_path(tmp_path / "a.json") as tmp:
        assert core._TEMPORARY.match(tmp.name) and f".{os.getpid()}-" in tmp.name
        tmp.write_text("{}")
    assert (tmp_path / "a.json").read_text() == "{}"
    torch.manual_seed(0)
