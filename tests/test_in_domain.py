"""In-domain deletion: random tube deletions and the fine-tuning of a tiny trained model."""
from __future__ import annotations

import pytest
import torch

from stabn_bench.benchmark.training import read_checkpoint, train_model
from stabn_bench.benchmark.training.in_domain import (
    fine_tune_in_domain, in_domain_config, in_domain_folder, in_domain_name, random_tube_deletion,
)
from stabn_bench.metrics.substrates import fixed_substrate

from test_training import tiny_config, tiny_data

pytestmark = pytest.mark.usefixtures("one_thread")


def clips(n=3, t=4, size=16):
    return torch.randn(n, 3, t, size, size, generator=torch.Generator().manual_seed(0))


def test_no_deletion_and_full_deletion_are_the_clip_and_the_substrate():
    x = clips()
    kept, share = random_tube_deletion(x, (0.0, 0.0), (2, 8, 8), "blur", 2.0, torch.Generator().manual_seed(0))
    assert torch.equal(kept, x) and torch.all(share == 0)
    gone, share = random_tube_deletion(x, (1.0, 1.0), (2, 8, 8), "blur", 2.0, torch.Generator().manual_seed(0))
    assert torch.equal(gone, fixed_substrate(x, "blur", 2.0)) and torch.all(share == 1)


def test_road_substrate_imputes_the_deleted_tubes_from_the_kept_ones():
    x = clips(n=2)
    out, share = random_tube_deletion(x, (0.5, 0.5), (2, 8, 8), "road", 0.0, torch.Generator().manual_seed(0),
                                      road_noise=0.0)
    changed = (out != x).any(dim=1)  # (N, T, H, W)
    assert torch.all(share == 0.5)
    assert changed.float().mean() > 0.4  # the deleted half is imputed (almost every voxel moves) ...
    kept = ~changed
    assert torch.equal(out.permute(0, 2, 3, 4, 1)[kept], x.permute(0, 2, 3, 4, 1)[kept])  # ... the rest is untouched
    # imputed values lie within the range of the kept ones (a harmonic interpolation, no noise)
    assert out.max() <= x.max() + 1e-5 and out.min() >= x.min() - 1e-5


def test_deletions_are_whole_tubes_of_the_drawn_share():
    x = clips(n=4)
    out, share = random_tube_deletion(x, (0.5, 0.5), (2, 8, 8), "zero", 0.0, torch.Generator().manual_seed(3))
    deleted = (out == 0).all(dim=1)  # (N, T, H, W): the zero substrate marks the deleted voxels
    # 2 x 2 x 2 = 8 tubes per clip, half of them deleted
    assert torch.all(share == 0.5)
    per_tube = deleted.view(4, 2, 2, 2, 8, 2, 8).permute(0, 1, 3, 5, 2, 4, 6).reshape(4, 8, -1).float().mean(-1)
    assert torch.all((per_tube == 0) | (per_tube == 1)), "a tube was deleted only in part"
    assert torch.all(per_tube.sum(dim=1) == 4)
    # another generator state deletes other tubes
    again, _ = random_tube_deletion(x, (0.5, 0.5), (2, 8, 8), "zero", 0.0, torch.Generator().manual_seed(4))
    assert not torch.equal(again, out)


def test_shares_are_drawn_within_the_range():
    x = clips(n=64, t=8, size=32)
    _, share = random_tube_deletion(x, (0.2, 0.6), (2, 8, 8), "zero", 0.0, torch.Generator().manual_seed(0))
    assert share.min() >= 0.2 - 1 / 64 and share.max() <= 0.6 + 1 / 64  # rounded to whole tubes (64 per clip)
    assert share.std() > 0.05


def test_fine_tuning_changes_the_weights_and_is_cached(tmp_path):
    cfg = tiny_config(f"checkpoint_dir={tmp_path}", "train.epochs=1", "metrics.in_domain.enabled=true",
                      "metrics.in_domain.epochs=1", "metrics.tube_size=[2,8,8]", "metrics.substrate=blur")
    data = tiny_data()
    trained = train_model(cfg, "abn", tmp_path / "abn", progress=False, datasets=data)
    result = fine_tune_in_domain(cfg, "abn", trained.last_path, progress=False, datasets=data)
    assert result.model_name == in_domain_name("abn") == "abn+indomain"
    assert result.path == in_domain_folder(cfg, "abn") / "last.pt" and result.path.is_file()
    assert result.epochs_trained == 1 and len(result.history) == 1
    assert 0.3 < result.history[0]["mean_deleted_share"] < 0.7  # uniform shares in [0, 1]
    assert (result.path.parent / "metrics.csv").is_file()
    base, tuned = read_checkpoint(trained.last_path), read_checkpoint(result.path)
    assert tuned["meta"]["arch"] == "abn" and tuned["meta"]["in_domain"]["substrate"] == "blur"
    changed = [k for k, v in base["model"].items() if v.is_floating_point() and not torch.equal(v, tuned["model"][k])]
    assert len(changed) > len(base["model"]) // 2, "fine-tuning left most weights unchanged"
    # the second call finds the finished checkpoint
    cached = fine_tune_in_domain(cfg, "abn", trained.last_path, progress=False, datasets=data)
    assert cached.epochs_trained == 0 and cached.path == result.path
    reread = read_checkpoint(cached.path)["model"]
    assert all(torch.equal(reread[k], v) for k, v in tuned["model"].items())
    # other fine-tuning settings: another folder
    other = tiny_config(f"checkpoint_dir={tmp_path}", "train.epochs=1", "metrics.in_domain.fraction=[0.0,0.5]")
    assert in_domain_folder(other, "abn") != in_domain_folder(cfg, "abn")


def test_in_domain_config_restricts_methods_and_metrics():
    cfg = tiny_config("metrics.in_domain.methods=[gradcam,random]", "metrics.in_domain.metrics=[deletion_auc]")
    scored = in_domain_config(cfg)
    assert scored.explain.methods == ["gradcam", "random"] and scored.metrics.metrics == ["deletion_auc"]
    assert cfg.explain.methods == ["all"]  # the run's own config is untouched


@pytest.mark.slow
def test_the_run_scores_the_fine_tuned_models_beside_the_plain_ones(tmp_path):
    import pandas as pd

    from stabn_bench.benchmark.pipeline.run import run_benchmark
    from test_pipeline import smoke_config

    cfg = smoke_config(tmp_path, "train.models=[abn]", "explain.methods=[gradcam,random]", "report.formats=[]",
                       "metrics.in_domain.enabled=true", "metrics.in_domain.methods=[random]",
                       "metrics.in_domain.metrics=[deletion_auc]")
    run_dir = run_benchmark(cfg, progress=False)
    scores = pd.read_csv(run_dir / "scores.csv", dtype={"clip_id": str})
    tuned = scores[scores["model"] == "abn+indomain"]
    assert set(tuned["method"]) == {"random"} and set(tuned["metric"]) == {"deletion_auc"}
    assert len(tuned) == cfg.explain.num_clips and tuned["value"].between(0, 1).all()
    assert set(scores.loc[scores["model"] == "abn", "method"]) >= {"gradcam", "random"}
    accuracy = pd.read_csv(run_dir / "accuracy.csv")
    assert "abn+indomain" in set(accuracy["model"])
    assert (in_domain_folder(cfg, "abn") / "last.pt").is_file()
    assert "### In-domain deletion" in (run_dir / "summary.md").read_text()
