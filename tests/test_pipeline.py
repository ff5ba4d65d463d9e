"""``stabn-bench run`` end to end on the smoke preset: output files, values, resuming, failures, DDP sharding."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stabn_bench import baselines
from stabn_bench.benchmark import cli
from stabn_bench.metrics import unregister_metric
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_accuracy_has_one_row_per_model_and_head(smoke_run):
    cfg, run_dir = smoke_run
    accuracy = pd.read_csv(run_dir / "accuracy.csv")
    # the documented columns first, in order; the spread across training seeds appended
    assert list(accuracy.columns) == ["model", "head", "top1", "top5", "n_clips", "top1_sd", "top5_sd", "top1_min",
                                      "top1_max", "n_seeds"]
    assert (accuracy["n_seeds"] == 1).all() and accuracy["top1_sd"].isna().all()
    heads = set(zip(accuracy["model"], accuracy["head"]))
    assert heads == {("baseline", "perception"), ("abn", "perception"), ("abn", "attention"),
                     ("stabn", "perception"), ("stabn", "attention")}
    assert accuracy["top1"].between(0, 1).all() and (accuracy["top5"] >= accuracy["top1"]).all()
    assert (accuracy["n_clips"] > 0).all()


@pytest.mark.slow
def test_every_method_and_metric_is_scored_with_valid_values(smoke_run):
    cfg, run_dir = smoke_run
    tables = read_tables(run_dir)
    scores, curves = tables["scores"], tables["curves"]
    assert list(scores.columns) == ["model", "method", "metric", "clip_id", "value", "seed"]
    assert list(curves.columns) == ["model", "method", "metric", "clip_id", "fraction", "score", "seed"]
    assert list(tables["temporal"].columns)[-1] == "seed" and set(scores["seed"]) == {cfg.seed}
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


@pytest.mark.slow
def test_provenance_records_timings_and_versions(smoke_run):
    import json

    cfg, run_dir = smoke_run
    provenance = json.loads((run_dir / "provenance.json").read_text())
    assert provenance["packages"]["torch"]
    assert provenance["device"]["type"] == "cpu"
    assert provenance["seed"] == cfg.seed
    assert provenance["timings_s"]["train"] >= 0 and "explain" in provenance["timings_s"]
    # the final model of every trained model is explained; its epoch is in provenance, checkpoints.csv, summary.md
    epochs = cfg.train.epochs
    assert provenance["train_seeds"] == [cfg.seed]
    assert {m: {s: (e["checkpoint"], e["epoch"]) for s, e in per_seed.items()}
            for m, per_seed in provenance["explained"].items()} == {
        m: {str(cfg.seed): ("last", epochs)} for m in cfg.train.models}
    explained = pd.read_csv(run_dir / "checkpoints.csv")
    assert list(explained["model"]) == list(cfg.train.models) and (explained["epoch"] == epochs).all()
    assert f"Explained checkpoints: {cfg.train.models[0]} last.pt, epoch {epochs} of {epochs}" in (
        run_dir / "summary.md").read_text()


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_tables(smoke_run, workspace, monkeypatch):
    cfg, run_dir = smoke_run
    # workers=1: the shards are written in this process, where the patched ShardStore.write can stop the run
    resumed_cfg = smoke_config(workspace, f"output_dir={workspace / 'resumed'}", "report.formats=[]", "workers=1")
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
    done_before = len(list(ShardStore(resumed_dir).root.glob("seed-*/*/*/*.json")))
    assert done_before == 7

    counted = {"n": 0}

    def counting_write(self, *args, **kwargs):
        counted["n"] += 1
        original(self, *args, **kwargs)

    monkeypatch.setattr(ShardStore, "write", counting_write)
    run_benchmark(resumed_cfg, progress=False)
    total = len(list(ShardStore(resumed_dir).root.glob("seed-*/*/*/*.json")))
    assert counted["n"] == total - 7, "finished units of work were recomputed"
    # the first run used worker processes (one thread each), this one the main process: the tables agree up to
    # the float rounding of a different thread count (every random draw is seeded per clip batch and method)
    first, again = read_tables(run_dir), read_tables(resumed_dir)
    for name in TABLES:
        pd.testing.assert_frame_equal(first[name], again[name], check_exact=False, rtol=1e-4, atol=1e-4, obj=name)


def run_dir_of(cfg):
    from stabn_bench.benchmark.pipeline.run import run_dir_of as resolve

    return resolve(cfg)


def test_attention_alignment_is_written_for_the_attention_models(smoke_run):
    cfg, run_dir = smoke_run
    alignment = pd.read_csv(run_dir / "attention_alignment.csv")
    assert list(alignment.columns) == ["model", "attention", "reference", "seed", "spearman", "spearman_sd",
                                       "positive_share", "n_clips"]
    pairs = set(zip(alignment["model"], alignment["attention"], alignment["reference"]))
    assert pairs == {("abn", "spatial", "evidence"), ("stabn", "spatial", "evidence"), ("stabn", "temporal", "window")}
    assert alignment["spearman"].between(-1, 1).all() and (alignment["n_clips"] > 0).all()
    assert "## Attention alignment" in (run_dir / "summary.md").read_text()


@pytest.mark.slow
def test_two_training_seeds_are_trained_scored_and_averaged(smoke_run, workspace):
    """train.seeds=[0, 1]: one model per seed, a seed column in every table, summaries that average the seeds."""
    import numpy as np

    from stabn_bench.benchmark.report.seeds import seed_summary_table

    cfg = smoke_config(workspace, f"output_dir={workspace / 'seeds'}", "train.seeds=[0,1]",
                       "train.models=[baseline,stabn]", "explain.methods=[stabn-attention,gradcam,random]",
                       "report.formats=[png]")
    run_dir = run_benchmark(cfg, progress=False)
    tables = read_tables(run_dir)
    scores = tables["scores"]
    assert set(scores["seed"]) == {0, 1} and tables["errors"].empty
    for name in ("curves", "temporal"):
        assert set(tables[name]["seed"]) == {0, 1}
    # two differently initialised models: their explanations differ on the same clips
    gradcam = scores[(scores["method"] == "gradcam") & (scores["metric"] == "deletion_auc")]
    by_seed = gradcam.pivot_table(index=["model", "clip_id"], columns="seed", values="value")
    assert not np.allclose(by_seed[0], by_seed[1])
    # accuracy.csv: the mean over the per-seed rows of accuracy_seeds.csv
    per_seed = pd.read_csv(run_dir / "accuracy_seeds.csv")
    assert list(per_seed.columns) == ["model", "head", "top1", "top5", "n_clips", "seed"] and len(per_seed) == 6
    accuracy = tables["accuracy"].set_index(["model", "head"])
    means = per_seed.groupby(["model", "head"])["top1"].mean()
    assert np.allclose(accuracy.loc[means.index, "top1"], means) and (accuracy["n_seeds"] == 2).all()
    # summary.csv: the mean over seeds of the per-seed means over clips, with the spread across seeds
    summary = pd.read_csv(run_dir / "summary.csv")
    row = summary[(summary["model"] == "stabn") & (summary["method"] == "gradcam")
                  & (summary["metric"] == "deletion_auc")].iloc[0]
    seed_means = gradcam[gradcam["model"] == "stabn"].groupby("seed")["value"].mean()
    assert row["mean"] == pytest.approx(seed_means.mean())
    assert row["seed_sd"] == pytest.approx(seed_means.std(ddof=1)) and row["n_seeds"] == 2
    assert row["n"] == gradcam["clip_id"].nunique()
    assert row["seed_min"] == pytest.approx(seed_means.min()) and row["seed_max"] == pytest.approx(seed_means.max())
    pd.testing.assert_frame_equal(summary.drop(columns="valid"), seed_summary_table(scores, n_resamples=100),
                                  check_exact=False)
    alignment = pd.read_csv(run_dir / "attention_alignment.csv")
    assert set(zip(alignment["model"], alignment["seed"])) == {("stabn", 0), ("stabn", 1)}
    text = (run_dir / "summary.md").read_text()
    assert "SD across 2 training seeds" in text or "SD across seeds" in text
    assert "| stabn | mean ± SD |" in text.replace("**", "")
    assert (run_dir / "figures" / "curve_deletion.png").is_file()
    explained = pd.read_csv(run_dir / "checkpoints.csv")
    assert sorted(zip(explained["model"], explained["seed"])) == [("baseline", 0), ("baseline", 1), ("stabn", 0),
                                                                   ("stabn", 1)]
    assert "stabn last.pt, epoch 1 of 1 (2 seeds)" in text


def test_a_failing_method_is_listed_and_the_run_goes_on(workspace, tmp_path, monkeypatch, capsys):
    module = tmp_path / "broken_methods.py"
    module.write_text(textwrap.dedent('''
        from stabn_bench.baselines import register_method

        @register_method("always-fails", models="all", cost="free")
        def always_fails(model, clips, targets):
            raise RuntimeError("this method is broken on purpose")
    '''))
    metrics_module = tmp_path / "my_metrics.py"
    metrics_module.write_text(textwrap.dedent('''
        from stabn_bench.metrics import register_metric

        @register_metric("test-map-peak", direction="lower", needs=("map",))
        def map_peak(map):
            return map.flatten(1).amax(dim=1)

        @register_metric("test-map-broken", direction="higher", needs=("map",))
        def map_broken(map):
            return map.flatten(1)[:, :2]  # two values per clip: the wrong shape
    '''))
    overrides = [f"output_dir={tmp_path / 'results'}", f"explain.methods_module={module}",
                 f"metrics.metrics_module={metrics_module}", "explain.methods=[always-fails,random]",
                 "train.models=[baseline]", "report.formats=[]"]
    cfg = smoke_config(workspace, *overrides)
    try:
        run_dir = run_benchmark(cfg, progress=False)
        summary = (run_dir / "summary.md").read_text()
        # the command line says so in its exit status (the finished run is reused, nothing is recomputed here)
        monkeypatch.setattr("stabn_bench.benchmark.pipeline.run.run_benchmark", lambda *a, **k: run_dir)
        assert cli.main(["run", "--preset", "smoke", "--no-progress", f"checkpoint_dir={workspace / 'checkpoints'}",
                         f"data.root={workspace / 'data'}", "device=cpu", *overrides]) == 1
        assert "test-map-broken" in capsys.readouterr().err
    finally:
        baselines.unregister_method("always-fails")
        unregister_metric("test-map-peak")
        unregister_metric("test-map-broken")
    tables = read_tables(run_dir)
    errors = tables["errors"]
    assert set(errors["method"]) == {"always-fails", "random"}
    assert errors.loc[errors["method"] == "always-fails", "error"].str.contains("broken on purpose").all()
    # the broken plug-in metric is recorded by name for every clip of random; every other metric of random is scored
    broken = errors[errors["method"] == "random"]
    assert broken["error"].str.contains("metric 'test-map-broken' returned shape").all()
    assert len(broken) == tables["scores"]["clip_id"].nunique()
    assert set(tables["scores"]["method"]) == {"random", "-"}
    # the run stores its plug-ins' kinds and directions as data, for every later report
    import json

    plugins = json.loads((run_dir / "plugins.json").read_text(encoding="utf-8"))
    assert {"name": "always-fails", "kind": "gradient"}.items() <= next(
        m for m in plugins["methods"] if m["name"] == "always-fails").items()
    assert next(m for m in plugins["metrics"] if m["name"] == "test-map-peak")["direction"] == "lower"
    random_metrics = set(tables["scores"].loc[tables["scores"]["method"] == "random", "metric"])
    assert {"deletion_auc", "insertion_auc", "test-map-peak"} <= random_metrics
    assert "test-map-broken" not in random_metrics
    # the plug-in metric is scored for every clip (the random map's peak is below 1) and shown with its direction
    peak = tables["scores"][tables["scores"]["metric"] == "test-map-peak"]
    assert len(peak) == tables["scores"]["clip_id"].nunique() and peak["value"].between(0.9, 1.0).all()
    assert "test-map-peak ↓" in summary


@pytest.mark.slow
def test_another_config_under_the_same_run_name_is_refused(smoke_run, workspace):
    cfg, run_dir = smoke_run
    changed = smoke_config(workspace, "metrics.steps=5")
    with pytest.raises(StabnBenchError, match="metrics.steps"):
        run_benchmark(changed, progress=False)


@pytest.mark.slow
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


def test_a_failed_unit_is_retried_by_the_next_run(smoke_run, workspace, tmp_path, capsys):
    """A unit whose method failed is not done: after the cause is fixed, the same command redoes just that unit."""
    from stabn_bench.benchmark.cli import main

    flag = tmp_path / "broken"
    flag.write_text("yes")
    module = tmp_path / "flaky_methods.py"
    module.write_text(textwrap.dedent(f'''
        from pathlib import Path

        import torch

        from stabn_bench.baselines import register_method

        @register_method("fails-while-flagged", models="all", cost="free", kind="control")
        def fails_while_flagged(model, clips, targets):
            if Path({str(flag)!r}).exists():
                raise RuntimeError("flagged as broken")
            return torch.rand(clips.shape[0], *clips.shape[2:], generator=torch.Generator().manual_seed(0))
    '''))
    args = ["run", "--preset", "smoke", "--no-progress", f"output_dir={tmp_path / 'results'}",
            f"checkpoint_dir={workspace / 'checkpoints'}", f"data.root={workspace / 'data'}", "device=cpu",
            f"explain.methods_module={module}", "explain.methods=[fails-while-flagged]", "train.models=[baseline]",
            "report.formats=[]"]
    try:
        assert main(args) == 1  # a run with failures says so in its exit status
        err = capsys.readouterr().err
        assert "1 units of work" in err and "fails-while-flagged" in err and "flagged as broken" in err
        run_dir = tmp_path / "results" / "smoke"
        errors = pd.read_csv(run_dir / "errors.csv", dtype={"clip_id": str})
        assert len(errors) == 4 and errors["clip_id"].is_unique  # one row per clip and method
        [(model, method, error)] = ShardStore(run_dir).failed_units()
        assert (model, method) == ("baseline", "fails-while-flagged") and error.endswith("flagged as broken")
        flag.unlink()  # the cause is fixed: the next run retries the failed unit (no --restart needed)
        assert main(args) == 0
        assert "units of work" not in capsys.readouterr().err
        tables = read_tables(run_dir)
        assert tables["errors"].empty
        assert set(tables["scores"]["method"]) == {"fails-while-flagged", "-"}
        assert ShardStore(run_dir).failed_units() == []
    finally:
        baselines.unregister_method("fails-while-flagged")


def test_restart_deletes_only_the_run_folder(tmp_path):
    from stabn_bench.benchmark.pipeline.run import prepare_run_dir

    cfg = smoke_config(tmp_path, "run_name=mine")
    run_dir = prepare_run_dir(cfg)
    (run_dir / ".state").mkdir()
    (run_dir / ".state" / "stages.json").write_text("{}")
    sibling = tmp_path / "results" / "other"
    sibling.mkdir()
    (sibling / "keep.txt").write_text("keep")
    assert prepare_run_dir(cfg, restart=True) == run_dir
    assert not (run_dir / ".state").exists() and (run_dir / "config.yaml").is_file()
    assert (sibling / "keep.txt").read_text() == "keep"
    (sibling / "config.yaml").unlink(missing_ok=True)
    with pytest.raises(StabnBenchError, match="not a run folder"):
        prepare_run_dir(smoke_config(tmp_path, "run_name=other"), restart=True)
    assert (sibling / "keep.txt").is_file()


def test_shard_store_keeps_failed_units_apart_and_lists_each_error_once(tmp_path):
    from stabn_bench.benchmark.pipeline.shards import Shard

    store = ShardStore(tmp_path, seed=0)
    failed = Shard()
    failed.add("errors", "stabn", "gradcam", "7", "explain+score", "RuntimeError: boom")
    store.write("stabn", "gradcam", 0, failed)
    assert not store.done("stabn", "gradcam", 0)  # a failed unit is not finished: the next run redoes it
    assert store.failed_units() == [("stabn", "gradcam", "RuntimeError: boom")]
    decode = Shard()
    for _ in range(2):  # the same undecodable clip reported twice (e.g. by two units) is one row
        decode.add("errors", "stabn", "*", "9", "decode", "9.mp4: is empty (0 bytes)")
    store.write("stabn", "-", 0, decode)
    assert len(store.merge()["errors"]) == 2
    done = Shard()
    done.add("scores", "stabn", "gradcam", "deletion_auc", "7", 0.5)
    store.write("stabn", "gradcam", 0, done)  # the retry succeeded: its failure is gone from every table
    assert store.done("stabn", "gradcam", 0) and store.failed_units() == []
    tables = store.merge()
    assert list(tables["errors"]["stage"]) == ["decode"] and list(tables["scores"]["value"]) == [0.5]


def test_metric_validity_and_tie_scores_are_written(smoke_run):
    cfg, run_dir = smoke_run
    scores = pd.read_csv(run_dir / "scores.csv", dtype={"clip_id": str})
    validity = pd.read_csv(run_dir / "metric_validity.csv")
    method_level = scores[scores["method"] != "-"].drop_duplicates(["model", "metric"])
    assert len(validity) == len(method_level)
    assert set(validity["status"]) <= {"pass", "fail", "unchecked", "exempt"}
    # every curve metric has the fully deleted end point and chance 1 / K
    deletion = validity[validity["metric"] == "deletion_auc"]
    assert deletion["deleted_probability"].between(0, 1).all()
    assert (deletion["chance"] == 1 / len(cfg.data.synthetic.action_keys())).all()
    ties = pd.read_csv(run_dir / "tie_scores.csv", dtype={"clip_id": str})
    assert set(ties["method"]) == {"gradcam"} | ({"oracle"} & set(scores["method"]))
    assert sorted(ties["tie_seed"].unique()) == [0, 1, 2]
    # seed 0 is the run's own value
    own = ties[ties["tie_seed"] == 0].merge(scores, on=["model", "method", "metric", "clip_id"], suffixes=("", "_run"))
    assert len(own) and (own["value"] - own["value_run"]).abs().max() < 1e-12
    assert validity["tie_spread"].notna().any()
    assert "valid" in pd.read_csv(run_dir / "summary.csv").columns
    assert "## Metric validity" in (run_dir / "summary.md").read_text()


@pytest.mark.slow
def test_evaluate_gives_the_rows_of_a_run(smoke_run, one_thread):
    """``stabn_bench.evaluate()`` and ``run`` score through one path: the trained ST-ABN on the run's test clips,
    with their masks, windows and placement prior, gives the run's rows (oracle controls, native-grid pointing
    game, sanity and robustness metrics included)."""
    import json

    import stabn_bench
    from stabn_bench.benchmark.data import build_dataset, collate_clips
    from stabn_bench.benchmark.pipeline.scoring import _window_prior
    from stabn_bench.benchmark.training.checkpoint import load_model
    from stabn_bench.metrics.engine import channels_last_model

    cfg, run_dir = smoke_run
    checkpoint = json.loads((run_dir / "provenance.json").read_text())["checkpoints"]["stabn"][str(cfg.seed)]
    model, _ = load_model(checkpoint, "cpu")
    channels_last_model(model)  # as the run scores on a CPU
    test_set = build_dataset(cfg.data, cfg.data.test_split, train=False, progress=False)
    batch = collate_clips([test_set[i] for i in range(min(cfg.explain.num_clips, len(test_set)))])
    api = stabn_bench.evaluate(
        model, batch["clip"], labels=batch["label"], masks=batch["evidence"], windows=batch["window"],
        window_prior=_window_prior(cfg), clip_ids=list(batch["clip_id"]), model_name="stabn",
        options=cfg.explain.options, batch_size=cfg.explain.batch_size, seed=cfg.seed, settings=cfg.metrics,
        metrics=cfg.metrics.metrics, errors="raise",
    )
    assert api.attrs["errors"].empty
    run = read_tables(run_dir)["scores"]
    run = run[run["model"] == "stabn"].drop(columns="seed")
    keys = ["model", "method", "metric", "clip_id"]
    assert {"oracle", "inverse-oracle"} <= set(api["method"]) and "pointing_game_native" in set(api["metric"])
    merged = run.merge(api, on=keys, how="outer", suffixes=("_run", "_api"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"][keys + ["_merge"]].to_string()
    np.testing.assert_allclose(merged["value_api"], merged["value_run"], rtol=1e-4, atol=1e-4)
