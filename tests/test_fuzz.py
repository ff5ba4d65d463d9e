"""Fuzz test of the command line: hundreds of bad inputs run through ``cli.main`` in-process.

Each case asserts: no traceback, exit code 1 or 2, a message naming the input, and no file outside the run's own
folder changed (the work folder is snapshotted before and after). Every case fails before any data is read or
any model is trained (``build_dataset`` is replaced by a tripwire), except the checkpoint cases, which share one
tiny untrained checkpoint and a 4-clip data set built once.
"""
from __future__ import annotations

import dataclasses
import os
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
    "seed": ["-1"], "data.synthetic.num_videos": ["0", "-5"], "data.synthetic.num_frames": ["1", "0"],
    "data.synthetic.height": ["4", "-1"], "data.synthetic.width": ["0"], "data.synthetic.num_decoys": ["-1"],
    "data.synthetic.noise": ["-0.1"], "data.synthetic.window_min": ["0", "99"], "data.synthetic.window_max": ["99"],
    "data.synthetic.target_size": ["1", "1000"], "data.synthetic.fps": ["0"], "data.synthetic.seed": ["-3"],
    "data.synthetic.split": ["[0.5, 0.5]", "[1.5, -0.5, 0]", "[0.2, 0.2, 0.2]"],
    "data.synthetic.background_contrast": ["-1", "2"], "data.synthetic.actions": ["[]", "[up]", "[nope]"],
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
    "metrics.pointing_tolerance": ["-1"], "metrics.memory_budget_mb": ["0"], "metrics.max_batch_size": ["0"],
    "metrics.batch_size": ["0", "-1"], "metrics.sanity_clips": ["-1"], "metrics.bootstrap_resamples": ["0", "-1"],
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
