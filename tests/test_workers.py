"""Worker processes of a run end with it: a killed run leaves no orphan computing its unit."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest


def _children(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_a_killed_run_leaves_no_worker_computing(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent("""
        import time
        from stabn_bench.benchmark.pipeline.workers import run_parallel

        if __name__ == "__main__":
            for _ in run_parallel(time.sleep, [120.0], 1, str, False, "sleep"):
                pass
    """))
    parent = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path)
    try:
        worker = None
        deadline = time.monotonic() + 60
        while worker is None and time.monotonic() < deadline:  # the pool's worker: a child that is not the tracker
            for pid in _children(parent.pid):
                if "resource_tracker" not in (Path("/proc") / str(pid) / "cmdline").read_text(errors="replace"):
                    worker = pid
            time.sleep(0.2)
        assert worker is not None, "the worker process did not start"
        time.sleep(3)  # let the worker start its 120 s job
        assert _alive(worker)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 15
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(worker), "the worker outlived the killed run"
    finally:
        if parent.poll() is None:
            parent.kill()
