"""``stabn-bench run`` end to end on the smoke preset: output files, values, resuming, failures, DDP sharding."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from stabn_bench import baselines
from stabn_bench.benchmark.config import load_config
from stabn_bench.benchmark.errors import StabnBenchError
from stabn_bench.benchmark.pipeline.run import run_benchmark
from stabn_bench.benchmark.pipeline.shards import ShardStore
from stabn_bench.metrics.catalog import METRICS

REPO = Path(__file__).resolve().parents[1]
TABLES = ("accuracy", "scores", "curves", "temporal", "errors")


def smoke_config(tmp: Path, *overrides: str):
    """The smoke preset with every path under ``tmp`` (data and checkpoints are shared by the tests)."""
    return load_config("smoke", [
        f"output_dir={tmp / 'results'}", f"checkpoint_dir={tmp / 'checkpoints'}", f"data.root={tmp / 'data'}",
        "device=cpu", *overrides,
    ])


def read_tables(run_dir: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(run_dir / f"{name}.csv", dtype={"clip_id": str}) for name in TABLES}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pipeline")


@pytest.fixture(scope="module")
def smoke_run(workspace):
    """One uninterrupted smoke run (trains the three tiny models once for the whole module)."""
    cfg = smoke_config(workspace)
    run_dir = run_benchmark(cfg, progress=False)
    return cfg, run_dir


def test_smoke_run_writes_every_result_file(smoke_run):
    cfg, run_dir = smoke_run
    for name in ("config.yaml", "provenance.json", "accuracy.csv", "scores.csv", "curves.csv", "summary.md",
                 "summary.tex", "temporal.csv", "errors.csv"):
        assert (run_dir / name).is_file() and (run_dir / name).stat().st_size > 0, name
    figures = {p.name for p in (run_dir / "figures").iterdir()}
    for stem in ("curve_deletion", "curve_insertion", "metric_deletion_auc"):
        assert f"{stem}.png" in figures and f"{stem}.txt" in figures  # a caption beside every figure
    for name in ("tables/main.tex", "tables/accuracy.tex", "tables/deletion_auc.tex", "report.html"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "overlays").glob("*.npz")), "no attention overlays were stored"
    assert "**" in (run_dir / "summary.md").read_text()  # best per column marked
    assert "\\textbf" in (run_dir / "summary.tex").read_text()


def test_accuracy_has_one_row_per_model_and_head(smoke_run):
    cfg, run_dir = smoke_run
    accuracy = pd.read_csv(run_dir / "accuracy.csv")
    assert list(accuracy.columns) == ["model", "head", "top1", "top5", "n_clips"]
    heads = set(zip(accuracy["model"], accuracy["head"]))
    assert heads == {("baseline", "perception"), ("abn", "perception"), ("abn", "attention"),
                     ("stabn", "perception"), ("stabn", "attention")}
    assert accuracy["top1"].between(0, 1).all() and (accuracy["top5"] >= accuracy["top1"]).all()
    assert (accuracy["n_clips"] > 0).all()


def test_every_method_and_metric_is_scored_with_valid_values(smoke_run):
    cfg, run_dir = smoke_run
    tables = read_tables(run_dir)
    scores, curves = tables["scores"], tables["curves"]
    assert list(scores.columns) == ["model", "method", "metric", "clip_id", "value"]
    assert list(curves.columns) == ["model", "method", "metric", "clip_id", "fraction", "score"]
    assert tables["errors"].empty, tables["errors"].to_string()
    explained = scores[scores["method"] != "-"]
    expected_metrics = {m for m in METRICS if METRICS[m].family != "model" and "_" in m} & set(explained["metric"])
    for model in ("baseline", "abn", "stabn"):
        applicable = set(baselines.available_methods(model))
        got = explained[explained["model"] == model]
        assert set(got["method"]) == applicable
        pairs = set(zip(got["method"], got["metric"]))
        for method in applicable:
            for metric in ("deletion_auc", "insertion_auc", "frame_deletion_auc", "pointing_game",
                           "energy_pointing_game", "temporal_auroc", "randomisation_spearman"):
                assert (method, metric) in pairs, (model, method, metric)
        assert {m for _, m in pairs} >= expected_metrics
    assert {"stabn-attention", "stabn-temporal"} <= set(explained[explained["model"] == "stabn"]["method"])
    aucs = explained[explained["metric"].str.endswith("_auc")]["value"]
    assert aucs.between(0, 1).all()
    model_level = scores[scores["method"] == "-"]
    assert set(model_level["metric"]) == {"shuffle_prediction_change", "reverse_prediction_change"}
    assert curves["fraction"].between(0, 1).all() and curves["score"].between(0, 1).all()
    # the random-order reference curves: once per model and clip (method "-"), the curves of every *_vs_random score
    reference = curves[curves["method"] == "-"]
    assert {"deletion_random", "insertion_random", "frame_deletion_random"} <= set(reference["metric"])
    assert set(reference["model"]) == set(scores["model"])
    ends = curves.groupby(["model", "method", "metric", "clip_id"])["fraction"].agg(["min", "max"])
    assert (ends["min"] == 0).all() and (ends["max"] == 1).all()


def test_provenance_records_timings_and_versions(smoke_run):
    import json

    cfg, run_dir = smoke_run
    provenance = json.loads((run_dir / "provenance.json").read_text())
    assert provenance["packages"]["torch"]
    assert provenance["device"]["type"] == "cpu"
    assert provenance["seed"] == cfg.seed
    assert provenance["timings_s"]["train"] >= 0 and "explain" in provenance["timings_s"]


def test_killed_run_resumes_to_the_same_tables(smoke_run, workspace, monkeypatch):
    cfg, run_dir = smoke_run
    resumed_cfg = smoke_config(workspace, f"output_dir={workspace / 'resumed'}", "report.formats=[]")
    writes = {"n": 0}
    original = ShardStore.write

    def write_then_die(self, *args, **kwargs):
        original(self, *args, **kwargs)
        writes["n"] += 1
        if writes["n"] == 7:
            raise KeyboardInterrupt  # as if the process were killed after 7 units of work

    monkeypatch.setattr(ShardStore, "write", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(resumed_cfg, progress=False)
    monkeypatch.setattr(ShardStore, "write", original)
    resumed_dir = run_dir_of(resumed_cfg)
    assert not (resumed_dir / "scores.csv").exists()
    done_before = len(list(ShardStore(resumed_dir).root.glob("*/*/*.json")))
    assert done_before == 7

    counted = {"n": 0}

    def counting_write(self, *args, **kwargs):
        counted["n"] += 1
        original(self, *args, **kwargs)

    monkeypatch.setattr(ShardStore, "write", counting_write)
    run_benchmark(resumed_cfg, progress=False)
    total = len(list(ShardStore(resumed_dir).root.glob("*/*/*.json")))
    assert counted["n"] == total - 7, "finished units of work were recomputed"
    first, again = read_tables(run_dir), read_tables(resumed_dir)
    for name in TABLES:
        pd.testing.assert_frame_equal(first[name], again[name], check_exact=True, obj=name)


def run_dir_of(cfg):
    from stabn_bench.benchmark.pipeline.run import run_dir_of as resolve

    return resolve(cfg)


def test_a_failing_method_is_listed_and_the_run_goes_on(workspace, tmp_path):
    module = tmp_path / "broken_methods.py"
    module.write_text(textwrap.dedent('''
        from stabn_bench.baselines import register_method

        @register_method("always-fails", models="all", cost="free")
        def always_fails(model, clips, targets):
            raise RuntimeError("this method is broken on purpose")
    '''))
    cfg = smoke_config(workspace, f"output_dir={tmp_path / 'results'}", f"explain.methods_module={module}",
                       "explain.methods=[always-fails,random]", "train.models=[baseline]", "report.formats=[]")
    try:
        run_dir = run_benchmark(cfg, progress=False)
    finally:
        baselines.unregister_method("always-fails")
    tables = read_tables(run_dir)
    errors = tables["errors"]
    assert set(errors["method"]) == {"always-fails"}
    assert errors["error"].str.contains("broken on purpose").all()
    assert set(tables["scores"]["method"]) == {"random", "-"}


def test_another_config_under_the_same_run_name_is_refused(smoke_run, workspace):
    cfg, run_dir = smoke_run
    changed = smoke_config(workspace, "metrics.steps=5")
    with pytest.raises(StabnBenchError, match="metrics.steps"):
        run_benchmark(changed, progress=False)


def test_two_gloo_processes_give_the_same_tables_as_one(smoke_run, workspace):
    """torchrun-style: 2 CPU processes shard the explained clips; rank 0 merges into the same files."""
    cfg, run_dir = smoke_run
    # 2 clip batches (one per rank), a few methods, tables only: what is checked is the sharding and the merge
    shared = ["explain.batch_size=2", "explain.methods=[stabn-attention,gradcam,random]", "report.formats=[]"]
    single = run_benchmark(smoke_config(workspace, f"output_dir={workspace / 'single'}", *shared), progress=False)
    overrides = [f"output_dir={workspace / 'ddp'}", f"checkpoint_dir={workspace / 'checkpoints'}",
                 f"data.root={workspace / 'data'}", "device=cpu", *shared]
    script = textwrap.dedent(f"""
        import os, sys
        import torch.multiprocessing as mp

        def main(rank, port):
            os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                              MASTER_PORT=port)
            from stabn_bench.benchmark.cli import main as cli
            code = cli(["run", "--preset", "smoke", "--no-progress", *{overrides!r}])
            assert code == 0, code

        if __name__ == "__main__":
            mp.spawn(main, args=(sys.argv[1],), nprocs=2)
    """)
    port = str(29500 + os.getpid() % 1000)
    launcher = workspace / "launch_two_ranks.py"  # spawned ranks re-import the launcher: it must be a file
    launcher.write_text(script)
    proc = subprocess.run([sys.executable, str(launcher), port], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp_dir = workspace / "ddp" / cfg.run_name
    one, two = read_tables(single), read_tables(ddp_dir)
    # Same rows and keys; values to float round-off: the reference ran in this process, whose thread count other
    # tests may have changed (CPU kernels then sum in another order), the ranks in fresh processes.
    for name in TABLES:
        pd.testing.assert_frame_equal(one[name], two[name], check_exact=False, rtol=1e-4, atol=1e-5, obj=name)
