"""Fuzz test of the command line: hundreds of bad inputs run through ``cli.main`` in-process.

Each case asserts: no traceback, exit code 1 or 2, a message naming the input, and no file outside the run's own
folder changed (the work folder is snapshotted before and after). Every case fails before any data is read or
any model is trained (``build_dataset`` is replaced by a tripwire), except the checkpoint cases, which share one
tiny untrained checkpoint and a 4-clip data set built once.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import typing
from pathlib import Path

import numpy as np
import pytest
import torch

from stabn_bench.benchmark import cli
from stabn_bench.benchmark.config import RunConfig, dump_yaml, load_config
from stabn_bench.benchmark.data.video_io import write_video
from stabn_bench.benchmark.models import build_model
from stabn_bench.benchmark.pipeline.run import RunLock
from stabn_bench.benchmark.training.checkpoint import checkpoint_config, model_meta, save_checkpoint

RUN = "fuzz"
BASE = ["--preset", "smoke", "--no-progress", f"run_name={RUN}", "output_dir=results", "checkpoint_dir=ckpt",
        "data.root=data"]


#: the data cases (``data check`` of corrupt videos) read their data sets; the others must fail before
WORK_ALLOWED = False


class ReachedWork(Exception):
    """Raised by the tripwire: a case got past validation into real work."""


# ------------------------------------------------------------------------------------------------ case lists


def _leaves(cls, prefix=""):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            yield from _leaves(tp, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", tp


#: numbers out of range per key (every one must be refused when the config is read)
OUT_OF_RANGE = {
    "seed": ["-1", "1099511627776"], "data.synthetic.num_videos": ["0", "-5"], "data.synthetic.num_frames": ["1", "0"],
    "data.synthetic.height": ["4", "-1"], "data.synthetic.width": ["0"], "data.synthetic.num_decoys": ["-1"],
    "data.synthetic.noise": ["-0.1"], "data.synthetic.window_min": ["0", "99"], "data.synthetic.window_max": ["99"],
    "data.synthetic.target_size": ["1", "1000"], "data.synthetic.fps": ["0"], "data.synthetic.seed": ["-3"],
    "data.synthetic.split": ["[0.5, 0.5]", "[1.5, -0.5, 0]", "[0.2, 0.2, 0.2]"],
    "data.synthetic.background_contrast": ["-1", "2"], "data.synthetic.actions": ["[up]", "[nope]"],
    "data.num_frames": ["0"], "data.stride": ["0"], "data.resize": ["0"], "data.crop": ["0", "999"],
    "data.color_jitter": ["-1"], "data.num_workers": ["-1"], "data.train_split": ["''", "../x"],
    "data.val_split": ["a/b"], "data.test_split": [".."], "data.root": ["''"],
    "model.width": ["0", "-4"], "model.dropout": ["1", "-0.5"], "model.depth": ["19"],
    "train.models": ["[]", "[bogus]"], "train.epochs": ["0", "-1"], "train.batch_size": ["0"],
    "train.lr": ["0", "-1", ".inf", ".nan"], "train.reference_batch_size": ["0"], "train.momentum": ["1", "-1"],
    "train.weight_decay": ["-1"], "train.warmup_epochs": ["-1"], "train.milestones": ["[0]", "[1.5]"],
    "train.clip_grad_norm": ["-1"],
    "explain.methods": ["[]"], "explain.num_clips": ["0"], "explain.batch_size": ["0", "-1"],
    "explain.overlay_clips": ["-1"], "explain.options": ["{gradcam: 5}"],
    "metrics.metrics": ["[]", "[bogus]"], "metrics.steps": ["0"], "metrics.granularities": ["[]", "[pixel]"],
    "metrics.tube_size": ["[2, 8]", "[0, 8, 8]"], "metrics.keep_fraction": ["0", "1.5"], "metrics.blur_sigma": ["-1"],
    "metrics.frame_tie_orders": ["0"],
    "metrics.pointing_tolerance": ["-1"], "metrics.memory_budget_mb": ["0"], "metrics.max_batch_size": ["0"],
    "metrics.batch_size": ["0", "-1"], "metrics.sanity_clips": ["-1"],
    "metrics.bootstrap_resamples": ["0", "-1", "1000000000000"],
    "metrics.in_domain.methods": ["[gradcm]", "[all, bogus]"], "metrics.in_domain.metrics": ["[bogus]"],
    "run_name": ["''", "..", ".", "a/b", "../escaped", "a/b/../../../escaped", "/abs", ".hidden", "-x", "a b",
                 "x" * 101, "a\\\\b", "ü"],
    "output_dir": ["''"], "checkpoint_dir": ["''"], "device": ["gpu", "cuda:0"],
}


def _wrong_types(tp) -> list[str]:
    """Values of the wrong type for annotation ``tp``."""
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return ["bogus", "[1]"]
    if origin is typing.Union:
        return [v for arg in typing.get_args(tp) if arg is not type(None) for v in _wrong_types(arg)][:2]
    if origin in (list, tuple):
        return ["5", "{a: 1}"]
    if origin is dict:
        return ["5", "[1, 2]"]
    if tp is bool:
        return ["maybe", "2"]
    if tp is int:
        return ["abc", "1.5", "[1]", "true"]
    if tp is float:
        return ["abc", "[0.5]", "true"]
    if tp is str:
        return ["[1]", "{a: 1}"]
    return []


def config_cases() -> list[tuple[list[str], str, int]]:
    """(argv, a fragment the message must hold, exit code) for every key: wrong types and numbers out of range."""
    cases = []
    for key, tp in _leaves(RunConfig):
        leaf = key.split(".")[-1]
        for value in _wrong_types(tp) + OUT_OF_RANGE.get(key, []):
            cases.append((["run", *BASE, f"{key}={value}"], leaf, 2))
    return cases


def cli_cases() -> list[tuple[list[str], str, int]]:
    cases = []
    for value in ["0", "-1", "abc", "1.5", ""]:
        cases.append((["evaluate", "x.pt", "--batch-size", value], "--batch-size", 2))
        cases.append((["data", "show", "data", "--out", "x.png", "--per-class", value], "--per-class", 2))
        cases.append((["data", "show", "data", "--out", "x.png", "--frames", value], "--frames", 2))
    for flag, value, key in [("--num-videos", "0", "num_videos"), ("--seed", "-1", "seed"),
                             ("--num-frames", "1", "num_frames"), ("--height", "2", "height"),
                             ("--noise", "-1", "noise"), ("--container", "avi", "container"),
                             ("--num-decoys", "-2", "num_decoys"), ("--width", "abc", "--width")]:
        cases.append((["data", "synth", "--out", "synth-out", flag, value], key, 2))
    cases += [
        (["nosuchcommand"], "nosuchcommand", 2),
        (["run", "--bogus-flag"], "--bogus-flag", 2),
        (["run", "notakey"], "notakey", 2),
        (["run", "=3"], "=3", 2),
        (["run", "train..epochs=3"], "train..epochs", 2),
        (["run", "train.epochz=3"], "epochz", 2),
        (["run", "--preset", "nosuchpreset"], "nosuchpreset", 2),
        (["train", "--model", "bogus"], "bogus", 2),
        (["train", *BASE[:4], "model=bogus"], "bogus", 2),
        (["methods", "--model", "bogus"], "bogus", 1),
        (["evaluate", "missing.pt"], "missing.pt", 1),
        (["evaluate", "--split", "test"], "checkpoint", 2),
        (["explain", "missing.pt", "--method", "random", "--clip", "1", "--out", "x.png"], "missing.pt", 1),
        (["explain", "a.pt", "b.pt", "--method", "random", "--clip", "1", "--out", "x.png"], "exactly one", 1),
        (["explain", "a.pt", "--method", "random", "--clip", "1", "--out", "x.txt"], "x.txt", 1),
        (["explain", "a.pt", "--method", "random", "--clip", "1", "--out", "x.png", "--gif", "x.avi"], "x.avi", 1),
        (["compare", "no-run-a", "no-run-b"], "no-run-a", 1),
        (["plot", "no-run"], "no-run", 1),
        (["readme", "no-run", "--readme", "no-readme.md"], "no-readme.md", 1),
        (["data", "show", "no-data-set", "--out", "x.png"], "no-data-set", 1),
    ]
    return cases


def file_cases(ws: Path) -> list[tuple[list[str], str, int]]:
    """Bad config files, folders that are files, corrupt state files, a foreign folder to --restart, a held lock."""
    bad = ws / "bad"
    bad.mkdir()
    texts = {"latin1.yaml": "run_name: caf\xe9\n".encode("latin-1"), "broken.yaml": b"run_name: [unclosed\n",
             "list.yaml": b"- 1\n- 2\n", "self.yaml": b"inherit: self.yaml\n", "unknown.yaml": b"nonsense_key: 1\n",
             "binary.yaml": bytes(range(256)), "deep.yaml": b"train: {epochs: {nested: 1}}\n",
             "alias.yaml": b"a: &x [1]\nrun_name: *x\n", "tag.yaml": b"run_name: !!python/object/apply:os.system [ls]\n"}
    for name, data in texts.items():
        (bad / name).write_bytes(data)
    cases = [(["run", "--config", f"bad/{name}", "--no-progress"], name, 2) for name in texts]
    cases += [(["run", "--config", "bad/missing.yaml"], "missing.yaml", 2), (["run", "--config", "bad"], "bad", 2)]
    (ws / "a-file").write_text("not a folder\n")
    for key in ("output_dir", "checkpoint_dir", "data.root"):
        cases.append((["run", *BASE, f"{key}=a-file"], "a-file", 1))
        cases.append((["run", *BASE, f"{key}=a-file/below"], "a-file", 1))
    cases.append((["train", *BASE, "--out", "a-file"], "a-file", 1))
    cases.append((["evaluate", "x.pt", "--out", "a-file/acc.csv"], "a-file", 1))
    cases.append((["explain", "x.pt", "--method", "random", "--clip", "1", "--out", "a-file/x.png"], "a-file", 1))

    # corrupt state of an existing run (the config matches, so the run would resume)
    config_text = dump_yaml(load_config("smoke", BASE[3:]))
    corrupt = {"stages-garbage": (".state/stages.json", b"{not json"), "stages-list": (".state/stages.json", b"[]"),
               "stages-types": (".state/stages.json", b'{"done": 5, "seconds": {}}'),
               "stages-latin1": (".state/stages.json", "{\"done\": [\"\xe9\"]}".encode("latin-1")),
               "config-garbage": ("config.yaml", b"run_name: [oops\n"),
               "config-binary": ("config.yaml", bytes(range(256))),
               "shard-garbage": (".state/shards/seed-0/baseline/random/batch-00000.json", b"\x00\x01garbage"),
               "shard-rows": (".state/shards/seed-0/baseline/random/batch-00000.json", b'{"scores": [[1, 2]]}'),
               "shard-type": (".state/shards/seed-0/baseline/random/batch-00000.json", b'"a string"')}
    for name, (relative, data) in corrupt.items():
        run_dir = ws / "results" / f"state-{name}"
        (run_dir / ".state").mkdir(parents=True)
        (run_dir / "config.yaml").write_text(config_text.replace(f"run_name: {RUN}", f"run_name: state-{name}"))
        (run_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / relative).write_bytes(data)
        cases.append((["run", *BASE, f"run_name=state-{name}"], Path(relative).name, 1))

    # --restart of folders that are not runs: refused, nothing deleted
    foreign = ws / "results" / "not-a-run"
    foreign.mkdir(parents=True)
    (foreign / "keep.txt").write_text("precious\n")
    cases.append((["run", *BASE, "run_name=not-a-run", "--restart"], "not-a-run", 1))
    cases.append((["run", *BASE, "run_name=not-a-run"], "not-a-run", 1))
    (ws / "outside").mkdir()
    (ws / "outside" / "keep.txt").write_text("precious\n")
    os.symlink(ws / "outside", ws / "results" / "linked-run")
    cases.append((["run", *BASE, "run_name=linked-run", "--restart"], "linked-run", 1))

    # a run of the same name held by a live process (the caller starts it: see HOLDER)
    cases.append((["run", *BASE, "run_name=held"], "PID", 1))
    return cases


#: another process holding a run's lock (as RunLock does: flock, then its PID in the file); argv[1] = lock file
HOLDER = ("import fcntl, os, sys, time; handle = open(sys.argv[1], 'a+'); fcntl.flock(handle, fcntl.LOCK_EX); "
          "handle.truncate(0); handle.write(f'{os.getpid()}\\n'); handle.flush(); print('locked', flush=True); "
          "time.sleep(120)")


def video_cases(ws: Path) -> list[tuple[list[str], str, int]]:
    """``data check`` on CSV data sets holding one corrupt video each."""
    good = ws / "videos" / "good.mp4"
    good.parent.mkdir(parents=True)
    write_video(good, np.full((8, 32, 32, 3), 90, dtype=np.uint8), fps=8)
    data = good.read_bytes()
    rng = np.random.default_rng(0)
    corrupt = {"empty": b"", "random": rng.bytes(4000), "half": data[: len(data) // 2], "text": b"not a video\n",
               "header-only": data[:64], "zeros": bytes(len(data)),
               "flipped": data[:48] + bytes(b ^ 0xFF for b in data[48:400]) + data[400:]}
    cases = []
    for name, payload in corrupt.items():
        root = ws / f"csv-{name}"
        root.mkdir()
        (root / "ok.mp4").write_bytes(data)
        (root / f"bad-{name}.mp4").write_bytes(payload)
        (root / "classes.txt").write_text("a\nb\n")
        (root / "train.csv").write_text(f"path,label\nok.mp4,a\nbad-{name}.mp4,b\n")
        cases.append((["data", "check", "--preset", "smoke", "data.source=csv", f"data.root=csv-{name}",
                       "data.num_frames=8", "--splits", "train"], f"bad-{name}.mp4", 1))
    root = ws / "csv-typo"
    root.mkdir()
    (root / "ok.mp4").write_bytes(data)
    (root / "train.csv").write_text("path,label\nok.mp4,jump\n")
    (root / "test.csv").write_text("path,label\nok.mp4,jmup\n")
    cases.append((["data", "check", "--preset", "smoke", "data.source=csv", "data.root=csv-typo", "--splits", "train",
                   "test"], "jmup", 1))
    cases += [
        (["data", "check", *BASE[:2], "data.source=csv", "data.root=no-csv-root"], "no-csv-root", 1),
        (["data", "check", *BASE[:2], "data.source=ssv2", "data.root=no-ssv2-root"], "no-ssv2-root", 1),
        (["data", "check", *BASE[:2], "data.source=folders", "data.root=no-folder-root"], "no-folder-root", 1),
    ]
    return cases


# ------------------------------------------------------------------------------------------------ the runner


def _snapshot(root: Path, prefix: str = "") -> dict[str, tuple[int, int]]:
    """relative path -> (size, mtime) of every file under ``root`` (links not followed)."""
    out = {}
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                out.update(_snapshot(Path(entry.path), f"{prefix}{entry.name}/"))
            else:
                stat = entry.stat(follow_symlinks=False)
                out[prefix + entry.name] = (stat.st_size, stat.st_mtime_ns)
    return out


def _own_folder(argv: list[str]) -> str:
    names = [a.split("=", 1)[1] for a in argv if a.startswith("run_name=")]
    return names[-1] if names else RUN


_LAST_SNAPSHOT: dict[Path, dict] = {}


def _run_case(argv, fragment, expected, ws, capsys) -> list[str]:
    """Problems with one case (empty when it behaved)."""
    before = _LAST_SNAPSHOT.pop(ws, None) or _snapshot(ws)  # the state the previous case left
    try:
        code = cli.main(list(argv))
    except ReachedWork:
        return [f"{argv}: got past validation into real work"]
    except BaseException as err:  # noqa: BLE001 - any escape is a traceback for the user
        return [f"{argv}: raised {type(err).__name__}: {err}"]
    out, stderr = capsys.readouterr()
    text = out + stderr
    problems = []
    if code not in (1, 2) or code != expected:
        problems.append(f"{argv}: exit code {code}, expected {expected}: {text.strip()[-300:]}")
    if "Traceback" in text:
        problems.append(f"{argv}: traceback printed")
    if fragment.lower() not in text.lower():
        problems.append(f"{argv}: message does not name {fragment!r}: {text.strip()[-300:]}")
    own = _own_folder(argv)
    after = _LAST_SNAPSHOT[ws] = _snapshot(ws)
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    foreign = sorted(p for p in changed if not (p.startswith(f"results/{own}/") or p == f"results/.{own}.lock"))
    if foreign:
        problems.append(f"{argv}: changed files outside its run folder: {foreign[:5]}")
    return problems


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    import stabn_bench.benchmark.data as data_pkg

    def tripwire():
        raise ReachedWork()

    real = data_pkg.build_dataset
    monkeypatch.setattr(data_pkg, "build_dataset", lambda *a, **k: real(*a, **k) if WORK_ALLOWED else tripwire())
    return tmp_path


def test_bad_inputs_fail_cleanly_before_any_work(workspace, capsys):
    import subprocess
    import sys

    global WORK_ALLOWED
    _LAST_SNAPSHOT.clear()
    cases = config_cases() + cli_cases() + file_cases(workspace)
    data_cases = video_cases(workspace)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, "results/.held.lock"], cwd=workspace,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        problems = [p for argv, fragment, code in cases for p in _run_case(argv, fragment, code, workspace, capsys)]
        capsys.readouterr()
        assert cli.main(["run", *BASE, "run_name=held"]) == 1
        assert f"PID {holder.pid}" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    WORK_ALLOWED = True
    try:
        problems += [p for argv, fragment, code in data_cases for p in _run_case(argv, fragment, code, workspace, capsys)]
    finally:
        WORK_ALLOWED = False
    cases += data_cases
    assert len(cases) >= 300
    assert not problems, f"{len(problems)} of {len(cases)} cases misbehaved:\n" + "\n".join(problems[:30])
    # nothing was deleted by the refused --restart cases
    assert (workspace / "results" / "not-a-run" / "keep.txt").is_file()
    assert (workspace / "outside" / "keep.txt").is_file()
    # the corrupt state files were left as they were
    assert (workspace / "results" / "state-stages-list" / ".state" / "stages.json").read_bytes() == b"[]"


# ------------------------------------------------------------------------------------------------ checkpoints


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch PWNED-pickle",))


@pytest.fixture(scope="session")
def checkpoint_workspace(tmp_path_factory):
    """A 4-clip CSV data set (classes a, b) and a tiny untrained baseline checkpoint for it, built once."""
    ws = tmp_path_factory.mktemp("fuzz-checkpoints")
    data = ws / "data"
    data.mkdir()
    for i, grey in enumerate([40, 90, 140, 190]):
        write_video(data / f"clip{i}.mp4", np.full((8, 32, 32, 3), grey, dtype=np.uint8), fps=8)
    (data / "classes.txt").write_text("a\nb\n")
    for split in ("train", "validation", "test"):
        (data / f"{split}.csv").write_text("path,label\nclip0.mp4,a\nclip1.mp4,b\nclip2.mp4,a\nclip3.mp4,b\n")
    cfg = load_config("smoke", ["data.source=csv", f"data.root={data}", "model.width=2"])
    torch.manual_seed(0)
    model = build_model("baseline", num_classes=2, depth=18, width=2, num_frames=8)
    meta = {**model_meta(model, 0.5, ["a", "b"]), "epoch": 1, "best_metric": 0.0, "best_epoch": 1, "history": [],
            "config": checkpoint_config(cfg)}
    save_checkpoint(ws / "good.pt", model, meta)
    hostile = {**meta, "config": {**checkpoint_config(cfg), "explain": {"methods_module": "evil.py"},
                                  "metrics": {"metrics": ["bogus"]}, "output_dir": "/", "run_name": ".."}}
    save_checkpoint(ws / "hostile.pt", model, hostile)
    (ws / "evil.py").write_text("import pathlib\npathlib.Path('PWNED-module').write_text('ran')\n")
    save_checkpoint(ws / "swapped.pt", model, {**meta, "classes": ["b", "a"]})
    save_checkpoint(ws / "renamed.pt", model, {**meta, "classes": ["a", "c"]})
    save_checkpoint(ws / "badmeta.pt", model, {**meta, "arch": "bogus-arch"})
    save_checkpoint(ws / "badtypes.pt", model, {**meta, "num_classes": "two", "depth": None})
    bad_cfg = checkpoint_config(cfg)
    bad_cfg["train"] = {**bad_cfg["train"], "epochs": -5}
    save_checkpoint(ws / "badconfig.pt", model, {**meta, "config": bad_cfg})
    torch.save({"format": 1, "model": _Exploit(), "meta": {}}, ws / "pickle.pt")
    (ws / "garbage.pt").write_bytes(b"\x80\x02garbage")
    (ws / "empty.pt").write_bytes(b"")
    torch.save([1, 2, 3], ws / "list.pt")
    (ws / "folder.pt").mkdir()
    return ws


def checkpoint_cases() -> list[tuple[list[str], str, int]]:
    explain = ["--method", "random", "--out", "strip.png", "--no-progress", "device=cpu"]
    cases = [
        (["explain", "hostile.pt", "--clip", "no-such-clip", *explain], "no-such-clip", 1),
        (["evaluate", "swapped.pt", "--no-progress", "device=cpu"], "'b'", 1),
        (["evaluate", "renamed.pt", "--no-progress", "device=cpu"], "'c'", 1),
        (["explain", "swapped.pt", "--clip", "clip0", *explain], "swapped.pt", 1),
        (["evaluate", "badconfig.pt", "--no-progress"], "badconfig.pt", 2),
        (["evaluate", "good.pt", "--no-progress", "data.root=nowhere"], "nowhere", 1),
        (["evaluate", "good.pt", "--no-progress", "device=cuda"] if not torch.cuda.is_available() else
         ["evaluate", "good.pt", "--no-progress", "device=bogus"], "device", 1 if not torch.cuda.is_available() else 2),
        (["explain", "good.pt", "--clip", "clip0", "--method", "no-such-method", "--out", "x.png"], "no-such-method", 1),
    ]
    for name in ("badmeta.pt", "badtypes.pt", "pickle.pt", "garbage.pt", "empty.pt", "list.pt", "folder.pt"):
        cases.append((["evaluate", name, "--no-progress", "device=cpu"], name, 1))
        cases.append((["explain", name, "--clip", "clip0", *explain], name, 1))
    return cases


def test_hostile_checkpoints_are_data_and_checked(checkpoint_workspace, monkeypatch, capsys):
    ws = checkpoint_workspace
    monkeypatch.chdir(ws)
    monkeypatch.syspath_prepend(str(ws))
    torch.set_num_threads(1)
    cases = checkpoint_cases()
    _LAST_SNAPSHOT.clear()
    problems = [p for argv, fragment, code in cases for p in _run_case(argv, fragment, code, ws, capsys)]
    assert not problems, "\n".join(problems)
    assert not (ws / "PWNED-module").exists(), "a methods module named in a checkpoint was imported"
    assert not (ws / "PWNED-pickle").exists(), "a pickled payload in a checkpoint was run"


def test_run_lock_names_the_live_holder_and_takes_over_a_stale_one(tmp_path):
    import subprocess
    import sys

    from stabn_bench.benchmark.errors import StabnBenchError

    run_dir = tmp_path / "results" / "locked"
    run_dir.parent.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir.parent / ".locked.lock")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StabnBenchError, match=f"PID {holder.pid}"):
            RunLock(run_dir).acquire()
    finally:
        holder.kill()  # killed while holding the lock: its lock file (naming it) stays behind, stale
        holder.wait()
    assert (tmp_path / "results" / ".locked.lock").read_text().strip() == str(holder.pid)
    with RunLock(run_dir) as lock:  # taken over
        assert lock.path.read_text().strip() == str(os.getpid())
        with pytest.raises(StabnBenchError, match=f"PID {os.getpid()}"):  # held: a second run in this process
            RunLock(run_dir).acquire()
    with RunLock(run_dir):  # released
        pass



def test_evaluate_names_the_clips_it_could_not_decode(checkpoint_workspace, tmp_path, monkeypatch, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(checkpoint_workspace / "data", data)
    (data / "clip2.mp4").write_bytes(b"not a video")
    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(1)
    assert cli.main(["evaluate", str(checkpoint_workspace / "good.pt"), f"data.root={data}", "device=cpu",
                     "--no-progress", "--batch-size", "2"]) == 0
    out = capsys.readouterr().out
    assert "n=3" in out and "1 clips could not be decoded" in out and "clip2.mp4" in out


# ------------------------------------------------------------------------------------------------ results folders
#
# ``report``, ``plot``, ``compare`` and ``readme`` on hostile copies of a results folder. Every case is generated
# from a table of (file, corruption) or (config key, bad value) or (command, module named in config.yaml). Rule: no
# traceback, exit 1 or 2, a message naming the file or key, nothing written outside the folder; the cases a folder
# may legally hold (modules named in its config, hostile names) must succeed, import nothing and escape everything.

#: a module that leaves a marker file beside itself when imported: no command that reads a results folder may run it
EVIL = "import pathlib\npathlib.Path(__file__).with_name('MARKER-imported').write_text('ran')\n"
FOLDER_COMMANDS = ("report", "plot", "compare", "readme")
README_TEXT = "# Title\n\n<!-- RESULTS:BEGIN -->\nold block\n<!-- RESULTS:END -->\n\ntail\n"


def _folder_argv(command: str, run: str, ws: Path) -> tuple[list[str], list[str]]:
    """argv of ``command`` on results folder ``run`` and the paths (relative to ``ws``) it may change."""
    if command == "report":
        return ["report", run, "--format", "png", "--no-html"], [f"{run}/"]
    if command == "report-config":  # figure formats from the folder's config.yaml
        return ["report", run, "--no-html"], [f"{run}/"]
    if command == "plot":
        return ["plot", run, "--format", "png", "--metrics", "deletion_auc"], [f"{run}/"]
    if command == "compare":
        return ["compare", run, "good"], []
    readme = f"readme-{run}.md"
    if not (ws / readme).exists():
        (ws / readme).write_text(README_TEXT)
    return ["readme", run, "--readme", readme, "--figure-dir", f"docs-{run}"], [readme, f"docs-{run}/"]


def _table_corruptions() -> dict[str, dict[str, bytes]]:
    """file -> corruption name -> bytes, for every table of a results folder."""
    from stabn_bench.benchmark.report.files import COLUMNS, NUMERIC

    out = {}
    for stem, columns in COLUMNS.items():
        header = ",".join(columns).encode()
        cases = {"binary": bytes(range(256)) * 8, "missing-column": b"a,b\n1,2\n"}
        if NUMERIC[stem]:
            row = ",".join("abc" if c == NUMERIC[stem][0] else ("1" if c in NUMERIC[stem] else "x") for c in columns)
            cases["text-number"] = header + b"\n" + row.encode() + b"\n"
        if stem == "scores":
            cases.update({"empty": b"", "header-only": header + b"\n"})
        out[f"{stem}.csv"] = cases
    return out


#: config.yaml keys a command reads numbers from -> values that must be refused (leaf name in the message)
CONFIG_NUMBERS = {
    "metrics.bootstrap_resamples": ["abc", "1e12", "1000000000000", "-1", "0", ".nan", "true", "[1]"],
    "seed": ["-1", "abc", "1099511627776", "2.5", "true"],
    "metrics.validity.alpha": ["abc", "-1", "2", "[0.1]", ".nan"],
    "metrics.validity.min_effect": ["abc", "5", "true"],
    "report.formats": ["5", "[gif]", "abc"],
}
CONFIG_READERS = {"metrics.bootstrap_resamples": ("report", "plot", "compare"), "seed": ("report", "plot", "compare"),
                  "metrics.validity.alpha": ("report",), "metrics.validity.min_effect": ("report",),
                  "report.formats": ("report-config",)}


def _overlay_corruptions(good: bytes) -> dict[str, bytes]:
    import io

    def npz(**arrays) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    frames = np.zeros((4, 8, 8, 3), np.uint8)
    return {
        "truncated": good[: len(good) // 2], "garbage": b"PK\x03\x04" + bytes(300), "text": b"not an npz\n",
        "frames-3d": npz(frames=np.zeros((4, 8, 8), np.uint8), meta=np.array("{}")),
        "frames-float": npz(frames=frames.astype(np.float32), meta=np.array("{}")),
        "map-shape": npz(frames=frames, meta=np.array("{}"), **{"map/baseline/gradcam": np.zeros((4, 9, 8))}),
        "evidence-shape": npz(frames=frames, evidence=np.zeros((3, 8, 8)), meta=np.array("{}")),
        "pickle": npz(frames=np.array([object()], dtype=object)),
        "meta-list": npz(frames=frames, meta=np.array("[1, 2]")),
    }


PLUGIN_DATA = {
    "garbage": b"{not json", "list": b"[1, 2]", "binary": bytes(range(256)),
    "bad-kind": b'{"methods": [{"name": "m", "kind": "__import__"}], "metrics": []}',
    "bad-direction": b'{"methods": [], "metrics": [{"name": "g", "direction": "sideways"}]}',
    "long-name": ('{"methods": [{"name": "' + "n" * 500 + '", "kind": "gradient"}]}').encode(),
    "bad-family": b'{"metrics": [{"name": "g", "direction": "higher", "family": "../../x"}]}',
    "methods-not-list": b'{"methods": "gradcam"}',
}
PROVENANCE_TIMINGS = {"text": '{"timings_s": {"train": "abc"}}', "not-object": '{"timings_s": "abc"}',
                      "list": '{"timings_s": {"train": [1]}}', "huge": '{"timings_s": {"train": 1e300}}',
                      "bool": '{"timings_s": {"train": true}}'}
#: README marker layouts that ``readme`` must refuse (the README is left as it was)
BAD_READMES = {
    "no-markers": "# Title\n", "no-end": "<!-- RESULTS:BEGIN -->\n", "no-begin": "<!-- RESULTS:END -->\n",
    "two-begins": "<!-- RESULTS:BEGIN -->\n<!-- RESULTS:BEGIN -->\n<!-- RESULTS:END -->\n",
    "two-ends": "<!-- RESULTS:BEGIN -->\n<!-- RESULTS:END -->\n<!-- RESULTS:END -->\n",
    "reversed": "<!-- RESULTS:END -->\nx\n<!-- RESULTS:BEGIN -->\n",
}


def results_folder_cases(ws: Path) -> list[tuple[list[str], str, int, list[str]]]:
    """(argv, fragment, exit code, paths it may change) for hostile results folders; builds them under ``ws``."""
    import shutil

    from report_fixtures import make_results_dir

    template = make_results_dir(ws / "good")
    (template / "figures").mkdir()
    (template / "figures" / "curve_deletion.png").write_bytes(b"\x89PNG fake")
    summary = "model,method,metric,mean,ci_low,ci_high,n\nbaseline,gradcam,deletion_auc,0.3,0.2,0.4,5\n"
    (template / "summary.csv").write_text(summary)
    (ws / "outside").mkdir(exist_ok=True)
    (ws / "outside" / "keep.txt").write_text("precious\n")
    counter = iter(range(10**6))

    def folder(relative: str | None = None, data: bytes | None = None) -> str:
        name = f"r{next(counter):03d}"
        shutil.copytree(template, ws / name)
        if relative is not None:
            (ws / name / relative).parent.mkdir(parents=True, exist_ok=True)
            (ws / name / relative).write_bytes(data or b"")
        return name

    cases = []

    def add(command: str, run: str, fragment: str, code: int = 1) -> None:
        argv, allowed = _folder_argv(command, run, ws)
        cases.append((argv, fragment, code, allowed))

    for file, corruptions in _table_corruptions().items():
        for data in corruptions.values():
            run = folder(file, data)
            for command in FOLDER_COMMANDS:
                add(command, run, file)
    import yaml

    good_config = yaml.safe_load((template / "config.yaml").read_text())
    for key, values in CONFIG_NUMBERS.items():
        for value in values:
            tree = {k: (dict(v) if isinstance(v, dict) else v) for k, v in good_config.items()}
            *parents, leaf = key.split(".")
            node = tree
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = yaml.safe_load(value)
            run = folder("config.yaml", yaml.safe_dump(tree).encode())
            for command in CONFIG_READERS[key]:
                add(command, run, leaf)
    for data in (b"seed: [unclosed\n", bytes(range(256)), b"seed: !!python/object/apply:os.system [ls]\n"):
        run = folder("config.yaml", data)
        for command in FOLDER_COMMANDS:
            add(command, run, "config.yaml")
    for data in {"json-broken": b"{oops", "json-binary": bytes(range(256))}.values():
        run = folder("provenance.json", data)
        for command in FOLDER_COMMANDS:
            add(command, run, "provenance.json")
    checkpoints = {"text-epoch": b"model,checkpoint,epoch\nbaseline,last,abc\n", "binary": bytes(range(256)) * 4,
                   "huge-epoch": b"model,checkpoint,epoch,seed\nbaseline,last,1e400,x\n"}
    for data in checkpoints.values():
        run = folder("checkpoints.csv", data)
        for command in ("report", "readme"):
            add(command, run, "checkpoints.csv")
    for text in PROVENANCE_TIMINGS.values():
        add("readme", folder("provenance.json", text.encode()), "provenance.json")
    good_overlay = next((template / "overlays").glob("*.npz"))
    for data in _overlay_corruptions(good_overlay.read_bytes()).values():
        run = folder(f"overlays/{good_overlay.name}", data)
        for command in ("report", "plot"):
            add(command, run, good_overlay.name)
    for data in PLUGIN_DATA.values():
        run = folder("plugins.json", data)
        for command in FOLDER_COMMANDS:
            add(command, run, "plugins.json")
    for sub, commands in {"figures": ("report", "plot"), "tables": ("report",)}.items():
        run = folder()
        shutil.rmtree(ws / run / sub, ignore_errors=True)
        os.symlink(ws / "outside", ws / run / sub)
        for command in commands:
            add(command, run, sub)
    for name, text in BAD_READMES.items():
        readme = f"bad-readme-{name}.md"
        (ws / readme).write_text(text)
        cases.append((["readme", "good", "--readme", readme, "--figure-dir", "docs-bad"], readme, 1, []))
    return cases


def legal_folder_cases(ws: Path) -> list[tuple[list[str], str, int, list[str]]]:
    """Folders that are legal but hostile: config.yaml names modules (absolute, relative, dotted, ``this``).
    Every command must succeed (exit 0) and import none of them."""
    import shutil

    import yaml

    (ws / "evil_module.py").write_text(EVIL)
    (ws / "sub").mkdir(exist_ok=True)
    (ws / "sub" / "evil_sub.py").write_text(EVIL)
    cases = []
    values = [str(ws / "evil_module.py"), "evil_module.py", "sub/evil_sub.py", "evil_module", "this"]
    for k, (key, value) in enumerate((key, value) for key in ("explain.methods_module", "metrics.metrics_module")
                                     for value in values):
        run = f"legal{k:02d}"
        shutil.copytree(ws / "good", ws / run)
        tree = yaml.safe_load((ws / run / "config.yaml").read_text())
        section, leaf = key.split(".")
        tree.setdefault(section, {})[leaf] = value
        (ws / run / "config.yaml").write_text(yaml.safe_dump(tree))
        # every command on the first (report and plot are slow), readme on the first of each key, compare on all
        commands = FOLDER_COMMANDS if k == 0 else ("compare", "readme") if k % len(values) == 0 else ("compare",)
        for command in commands:
            argv, allowed = _folder_argv(command, run, ws)
            cases.append((argv, "", 0, allowed))
    return cases


def _run_folder_case(argv, fragment, expected, allowed, ws, capsys) -> list[str]:
    import time

    before = _LAST_SNAPSHOT.pop(ws, None) or _snapshot(ws)
    started = time.perf_counter()
    try:
        code = cli.main(list(argv))
        if os.environ.get("FUZZ_TIMES"):
            print(f"TIME {time.perf_counter() - started:.2f} {argv}", file=sys.__stderr__)
    except BaseException as escaped:  # noqa: BLE001 - any escape is a traceback for the user
        return [f"{argv}: raised {type(escaped).__name__}: {escaped}"]
    out, err = capsys.readouterr()
    text = out + err
    problems = []
    if code != expected:
        problems.append(f"{argv}: exit code {code}, expected {expected}: {text.strip()[-300:]}")
    if "Traceback" in text:
        problems.append(f"{argv}: traceback printed")
    if expected and fragment.lower() not in text.lower():
        problems.append(f"{argv}: message does not name {fragment!r}: {text.strip()[-300:]}")
    if expected and len(err.strip().splitlines()) != 1:
        problems.append(f"{argv}: the error is not one line: {err.strip()[-300:]}")
    if "Beautiful is better than ugly" in text:
        problems.append(f"{argv}: imported the module 'this' named in a results folder")
    after = _LAST_SNAPSHOT[ws] = _snapshot(ws)
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    foreign = sorted(p for p in changed if not any(p == a or p.startswith(a) for a in allowed if a.endswith("/"))
                     and p not in allowed)
    if foreign:
        problems.append(f"{argv}: changed files outside its folder: {foreign[:5]}")
    return problems


def test_hostile_results_folders_are_data(tmp_path, monkeypatch, capsys):
    """Generated cases over every file of a results folder and every command that reads one (see above)."""
    import sys
    import time

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # a dotted module name would be found here, if it were imported
    sys.modules.pop("this", None)
    torch.set_num_threads(1)
    started = time.perf_counter()
    bad = results_folder_cases(tmp_path)
    legal = legal_folder_cases(tmp_path)
    _LAST_SNAPSHOT.clear()
    problems = [p for argv, fragment, code, allowed in bad + legal
                for p in _run_folder_case(argv, fragment, code, allowed, tmp_path, capsys)]
    assert len(bad) >= 150 and len(legal) >= 10
    assert not problems, f"{len(problems)} of {len(bad) + len(legal)} cases misbehaved:\n" + "\n".join(problems[:25])
    assert not list(tmp_path.rglob("MARKER-imported")), "a module named in a results folder was imported"
    assert "evil_module" not in sys.modules and "this" not in sys.modules
    assert sorted(p.name for p in (tmp_path / "outside").iterdir()) == ["keep.txt"]
    for name, text in BAD_READMES.items():  # refused READMEs are untouched
        assert (tmp_path / f"bad-readme-{name}.md").read_text() == text
    print(f"{len(bad) + len(legal)} results-folder cases in {time.perf_counter() - started:.1f} s")


def test_hostile_names_are_escaped_and_never_share_a_file(tmp_path, monkeypatch, capsys):
    """Models ``x/y`` and ``x_y``, methods that close the README block, split a table row, break a line or are
    300 characters long: the report and the README block keep one file per table and one row shape."""
    import re

    from report_fixtures import make_results_dir

    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(1)
    methods = ("gradcam", "<!-- RESULTS:END -->", "a|b", "m" * 300, "line\nbreak", "*bold* [link](x) `code`")
    run = make_results_dir(tmp_path / "names", models=("x/y", "x_y"), methods=methods, overlay=False)
    assert cli.main(["report", str(run), "--format", "png", "--no-html"]) == 0
    tables = sorted(p.name for p in (run / "tables").glob("headline-*.tex"))
    assert len(tables) == 2 and len(set(tables)) == 2 and all(re.fullmatch(r"headline-x_y-[0-9a-f]{8}\.tex", t)
                                                               for t in tables)
    readme = tmp_path / "README.md"
    readme.write_text(README_TEXT)
    (run / "figures" / "curve_deletion.png").exists() or (run / "figures" / "curve_deletion.png").write_bytes(b"")
    for _ in range(2):  # twice: the block is replaced, never duplicated
        assert cli.main(["readme", str(run), "--readme", str(readme), "--figure-dir", str(tmp_path / "docs")]) == 0
    text = readme.read_text()
    assert text.count("<!-- RESULTS:BEGIN -->") == 1 and text.count("<!-- RESULTS:END -->") == 1
    assert text.startswith("# Title\n") and text.endswith("\ntail\n")
    for markdown in (text, (run / "summary.md").read_text()):
        for block in re.split(r"\n\s*\n", markdown):
            rows = [line for line in block.splitlines() if line.startswith("|")]
            widths = {len(re.split(r"(?<!\\)\|", row)) for row in rows}
            assert len(widths) <= 1, f"a table with rows of {sorted(widths)} cells:\n{block[:400]}"
        assert "line break" in markdown and "a\\|b" in markdown and "\\[link\\]" in markdown
    capsys.readouterr()


# ------------------------------------------------------------------------------------------------ hostile plug-ins
#
# Plug-in metrics and methods that raise, return the wrong shape, type or length, complex values, or disturb the
# model (train mode, BatchNorm statistics). Each is run beside built-in methods and metrics through the same scorer
# a run uses; the rule: no exception escapes, the failure is recorded with the plug-in's name, every other score is
# exactly what it is without the plug-in, and the model comes back as it went in.


class _BatchNormNet(torch.nn.Module):
    """A tiny classifier with BatchNorm: train-mode forwards change its running statistics (and its outputs)."""

    def __init__(self):
        super().__init__()
        self.stage = torch.nn.Sequential(torch.nn.Conv3d(3, 4, 1), torch.nn.BatchNorm3d(4), torch.nn.ReLU())
        self.head = torch.nn.Linear(4, 3)

    def forward(self, clips):
        return self.head(self.stage(clips).mean(dim=(2, 3, 4)))


def _hostile_metric_values(n: int) -> dict[str, object]:
    """name -> what a hostile metric returns (or raises) on n clips."""
    return {
        "raises": RuntimeError("metric broken on purpose"), "too-long": torch.zeros(n + 1),
        "too-short": torch.zeros(max(n - 1, 0)), "two-d": torch.zeros(n, 2), "scalar": torch.tensor(0.5),
        "text": "abc", "none": None, "complex-tensor": torch.zeros(n, dtype=torch.complex64),
        "complex-array": np.zeros(n, dtype=np.complex128), "dict": {"a": 1}, "strings": ["a"] * n,
        "nested": [[1, 2]] * n,
    }


def _hostile_method_outputs(n: int, t: int, h: int, w: int) -> dict[str, object]:
    return {
        "raises": ValueError("method broken on purpose"), "wrong-n": torch.rand(n + 1, t, h, w),
        "wrong-frames": torch.rand(n, t + 1), "too-large": torch.rand(n, t + 2, h, w),
        "six-d": torch.rand(n, 1, 1, t, h, w),
        "complex": torch.rand(n, t, h, w, dtype=torch.complex64), "text": "map", "none": None,
        "nan": torch.full((n, t, h, w), float("nan")), "bool": torch.ones(n, t, h, w, dtype=torch.bool),
    }


def _state(model: torch.nn.Module) -> tuple:
    return ([(k, v.clone()) for k, v in model.state_dict().items()], [m.training for m in model.modules()],
            [p.requires_grad for p in model.parameters()])


def _same_state(a: tuple, b: tuple) -> bool:
    return (all(ka == kb and torch.equal(va, vb) for (ka, va), (kb, vb) in zip(a[0], b[0]))
            and a[1] == b[1] and a[2] == b[2])


def test_hostile_plugins_are_recorded_and_every_other_score_stands(one_thread):
    import warnings

    import stabn_bench
    from stabn_bench import baselines
    from stabn_bench.metrics import register_metric, unregister_metric

    torch.manual_seed(0)
    model = _BatchNormNet().eval()
    clips = torch.randn(3, 3, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    targets = torch.tensor([0, 1, 2])
    common = dict(settings={"steps": 4, "sanity_clips": 0}, batch_size=3)
    builtin = ["deletion_auc", "insertion_auc", "shuffle_prediction_change"]
    before = _state(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = stabn_bench.evaluate(model, clips, targets, methods=["saliency", "random"], metrics=builtin,
                                         **common)
    key = ["model", "method", "metric", "clip_id"]
    reference = reference.sort_values(key).reset_index(drop=True)
    problems, cases = [], 0
    for level, needs in (("map", ("map",)), ("model", ("clips",))):
        for behaviour, value in _hostile_metric_values(3).items():
            name = f"fuzz-{level}-{behaviour}"

            def fn(value=value, **_):
                if isinstance(value, Exception):
                    raise value
                return value

            register_metric(name, needs=needs)(lambda map=None, clips=None, fn=fn: fn())
            cases += 1
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    scores = stabn_bench.evaluate(model, clips, targets, methods=["saliency", "random"],
                                                  metrics=[*builtin, name], **common)
            except Exception as err:  # noqa: BLE001
                problems.append(f"metric {name}: raised {type(err).__name__}: {err}")
                continue
            finally:
                unregister_metric(name)
            errors = scores.attrs["errors"]
            if errors.empty or not errors["error"].str.contains(name, regex=False).all():
                problems.append(f"metric {name}: not recorded by name: {errors.to_dict('list')}")
            kept = scores[scores.metric != name].sort_values(key).reset_index(drop=True)
            if not kept.equals(reference):
                problems.append(f"metric {name}: the other scores changed")
    for behaviour, value in _hostile_method_outputs(3, 4, 8, 8).items():
        name = f"fuzz-method-{behaviour}"

        def method(model, clips, targets, value=value):
            if isinstance(value, Exception):
                raise value
            return value

        baselines.register_method(name, models="all", cost="free", kind="gradient")(method)
        cases += 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores = stabn_bench.evaluate(model, clips, targets, methods=[name, "saliency", "random"],
                                              metrics=builtin, **common)
        except Exception as err:  # noqa: BLE001
            problems.append(f"method {name}: raised {type(err).__name__}: {err}")
            continue
        finally:
            baselines.unregister_method(name)
        errors = scores.attrs["errors"]
        if set(errors["method"]) != {name} or not errors["error"].str.contains(name, regex=False).all():
            problems.append(f"method {name}: not recorded by name: {errors.to_dict('list')}")
        if not scores[scores.method != name].sort_values(key).reset_index(drop=True).equals(reference):
            problems.append(f"method {name}: the other methods' scores changed")

    def train_mode_method(model, clips, targets):  # shifts the BatchNorm statistics, leaves the model in train mode
        model.train()
        for _ in range(3):
            model(clips * 5 + 3)
        return torch.rand(clips.shape[0], clips.shape[2], clips.shape[3], clips.shape[4])

    baselines.register_method("fuzz-method-train-mode", models="all", cost="free", kind="gradient")(train_mode_method)
    cases += 1
    try:
        scores = stabn_bench.evaluate(model, clips, targets, methods=["fuzz-method-train-mode", "saliency", "random"],
                                      metrics=builtin, **common)
    finally:
        baselines.unregister_method("fuzz-method-train-mode")
    others = scores[scores.method != "fuzz-method-train-mode"].sort_values(key).reset_index(drop=True)
    if not others.equals(reference):
        problems.append("a method that ran the model in train mode changed the scores of the methods after it")
    assert cases >= 30
    assert not problems, f"{len(problems)} of {cases} plug-in cases misbehaved:\n" + "\n".join(problems)
    assert _same_state(before, _state(model)), "the model did not come back as it went in"


def test_a_method_in_train_mode_leaves_the_model_as_it_was():
    """``explain`` hands the model back in its mode with its BatchNorm statistics, whatever the method did."""
    from stabn_bench import baselines

    model = _BatchNormNet().eval()

    def shifts(model, clips, targets):
        model.train()
        model(clips + 10)
        return torch.rand(clips.shape[0], clips.shape[2], clips.shape[3], clips.shape[4])

    baselines.register_method("fuzz-shifts", models="all", cost="free", kind="gradient")(shifts)
    try:
        before = _state(model)
        baselines.explain("fuzz-shifts", model, torch.randn(2, 3, 4, 8, 8), torch.tensor([0, 1]))
        assert _same_state(before, _state(model))
        model.train()
        model.stage[1].weight.requires_grad_(False)
        before = _state(model)
        baselines.explain("fuzz-shifts", model, torch.randn(2, 3, 4, 8, 8), torch.tensor([0, 1]))
        assert _same_state(before, _state(model)) and model.training
    finally:
        baselines.unregister_method("fuzz-shifts")


# ------------------------------------------------------------------------------------------------ API misuse


def api_misuse_cases() -> list[tuple[str, object, str, type]]:
    """(argument, bad value, fragment the message must hold, exception type) for ``evaluate``."""
    n, t = 3, 4
    nan_clips = torch.randn(n, 3, t, 8, 8)
    nan_clips[0, 0, 0, 0, 0] = float("nan")
    inf_clips = torch.randn(n, 3, t, 8, 8)
    inf_clips[1, 1, 1, 1, 1] = float("inf")
    bad: dict[str, list[typing.Any]] = {
        "model": [None, "r3d_18", lambda x: x, 3, torch.randn(3)],
        "clips": [None, [[1.0]], torch.randn(n, 3, 8, 8), torch.zeros(n, 3, t, 8, 8, dtype=torch.long), nan_clips,
                  inf_clips, torch.randn(0, 3, t, 8, 8), np.zeros((n, 3, t, 8, 8))],
        "targets": [torch.tensor([0.5, 1.0, 2.0]), torch.tensor([0, 1, 7]), torch.tensor([0, -1, 1]),
                    torch.tensor([0, 1]),
                    torch.zeros(n, 2, dtype=torch.long), torch.tensor([0, 1, 2], dtype=torch.complex64),
                    torch.tensor([True, False, True]), [0.0, float("nan"), 1.0], "abc"],
        "labels": [torch.tensor([0, 1, 3]), torch.tensor([0.25, 1, 2]), torch.tensor([-2, 0, 0])],
        "masks": [torch.full((n, t, 8, 8), float("nan")), torch.full((n, t, 8, 8), 0.5), torch.ones(n, t, 8, 7),
                  torch.ones(n, t, 8, 8) * 2, torch.zeros(n, t, 8, 8, dtype=torch.complex64)],
        "windows": [torch.full((n, t), float("nan")), torch.ones(n, t + 1), torch.full((n, t), 3.0)],
        "clip_ids": [["a", "a", "b"], ["a", "b"], "abc", ["a", "b", "c", "d"]],
        "batch_size": [0, -1, 1.5, True, "2"],
        "seed": [-1, "a", 1.5],
        "methods": [["no-such-method"], ["saliency", "salency"]],
        "metrics": [["no-such-metric"], ["deletion_auk"]],
        "errors": ["ignore"],
    }
    # the message names the argument, or for a name list the bad name in it
    return [(argument, value, value[-1] if argument in ("methods", "metrics") else argument, Exception)
            for argument, values in bad.items() for value in values]


def test_api_misuse_names_the_argument_and_leaves_the_model_alone(one_thread):
    import warnings

    import stabn_bench
    from stabn_bench.baselines import MethodError
    from stabn_bench.benchmark.config import ConfigError

    torch.manual_seed(0)
    model = _BatchNormNet().train()
    model.head.bias.requires_grad_(False)
    before = _state(model)
    base = dict(model=model, clips=torch.randn(3, 3, 4, 8, 8), targets=torch.tensor([0, 1, 2]),
                methods=["saliency"], metrics=["deletion_auc"], settings={"steps": 2})
    problems = []
    cases = api_misuse_cases()
    for argument, value, fragment, _ in cases:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                stabn_bench.evaluate(**{**base, argument: value})
        except (TypeError, ValueError, ConfigError) as err:
            if fragment not in str(err):
                problems.append(f"evaluate({argument}={value!r:.40}): message does not name {fragment!r}: {err}")
            if "\n" in str(err).strip():
                problems.append(f"evaluate({argument}={value!r:.40}): message is not one line: {err}")
        except Exception as err:  # noqa: BLE001
            problems.append(f"evaluate({argument}={value!r:.40}): {type(err).__name__}: {err}")
        else:
            problems.append(f"evaluate({argument}={value!r:.40}): accepted")
        if not _same_state(before, _state(model)):
            problems.append(f"evaluate({argument}={value!r:.40}): changed the model")
            before = _state(model)
    # explain(): the same checks, as MethodError naming the argument
    explain_cases = [("model", dict(model="not a model"), "model"),
                     ("clips", dict(clips=torch.full((2, 3, 4, 8, 8), float("nan"))), "clips"),
                     ("targets", dict(targets=torch.tensor([0.5, 1.0])), "targets"),
                     ("targets", dict(targets=torch.tensor([-1, 0])), "targets"),
                     ("clips", dict(clips=torch.zeros(2, 3, 4, 8, 8, dtype=torch.long)), "clips")]
    for argument, override, fragment in explain_cases:
        kwargs = {"model": model, "clips": torch.randn(2, 3, 4, 8, 8), "targets": torch.tensor([0, 1]), **override}
        try:
            stabn_bench.explain("saliency", kwargs["model"], kwargs["clips"], kwargs["targets"])
        except MethodError as err:
            if fragment not in str(err):
                problems.append(f"explain({argument}): message does not name {fragment!r}: {err}")
        except Exception as err:  # noqa: BLE001
            problems.append(f"explain({argument}): {type(err).__name__}: {err}")
        else:
            problems.append(f"explain({argument}): accepted")
    assert len(cases) + len(explain_cases) >= 45
    total = len(cases) + len(explain_cases)
    assert not problems, f"{len(problems)} of {total} API cases misbehaved:\n" + "\n".join(problems)
    assert _same_state(before, _state(model)) and model.training


def test_evaluate_hands_the_model_back_warns_and_passes_ground_truth(one_thread):
    import stabn_bench

    torch.manual_seed(0)
    model = _BatchNormNet().train()
    model.stage[0].weight.requires_grad_(False)
    before = _state(model)
    clips = torch.randn(2, 3, 4, 8, 8)
    masks = torch.zeros(2, 4, 8, 8, dtype=torch.bool)
    masks[:, :, 2:5, 2:5] = True
    windows = torch.tensor([[0, 1, 1, 0], [1, 1, 0, 0]])
    with pytest.warns(UserWarning, match="stabn-attention"):
        scores = stabn_bench.evaluate(model, clips, torch.tensor([0, 1]),
                                      methods=["oracle", "inverse-oracle", "random", "stabn-attention"],
                                      metrics=["pointing_game", "temporal_auroc"], masks=masks, windows=windows,
                                      settings={"steps": 2})
    assert _same_state(before, _state(model)) and model.training
    assert scores.attrs["errors"].empty
    per = scores.groupby(["method", "metric"])["value"].mean()
    assert per[("oracle", "pointing_game")] == 1.0 and per[("oracle", "temporal_auroc")] == 1.0
    assert per[("inverse-oracle", "temporal_auroc")] == 0.0
    assert "stabn-attention" not in set(scores.method)
