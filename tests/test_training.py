"""Training loop, checkpoints, resume, NaN handling, schedule, accuracy tables and the train/evaluate commands."""
import math

import pandas as pd
import pytest
import torch
from torch.utils.data import Dataset

from stabn_bench.benchmark.cli import main
from stabn_bench.benchmark.config import load_config
from stabn_bench.benchmark.errors import CheckpointError, StabnBenchError
from stabn_bench.benchmark.training import (
    evaluate_model,
    explained_checkpoint_row,
    load_model,
    read_checkpoint,
    topk_correct,
    train_model,
    write_accuracy_csv,
)
from stabn_bench.benchmark.training.checkpoint import improves
from stabn_bench.benchmark.training.data import eval_loader
from stabn_bench.benchmark.training.schedule import learning_rate, scaled_lr


pytestmark = pytest.mark.usefixtures("one_thread")


class MovingSquares(Dataset):
    """Stand-in data set: a bright square moving left->right, right->left, down or up over T frames, in noise.

    Items follow the data contract: {"clip": (3, T, H, W) float32, "label": int, "clip_id": str}."""

    classes = ["left_to_right", "right_to_left", "down", "up"]
    num_classes = 4

    def __init__(self, n, frames=6, size=24, seed=0, num_classes=4):
        self.classes = MovingSquares.classes[:num_classes]
        self.num_classes = num_classes
        self.poison = False
        g = torch.Generator().manual_seed(seed)
        self.items = []
        for i in range(n):
            label = i % num_classes
            clip = torch.randn(3, frames, size, size, generator=g) * 0.3
            pos = torch.linspace(2, size - 8, frames).long()
            if label in (1, 3):
                pos = pos.flip(0)
            other = int(torch.randint(0, size - 6, (1,), generator=g))
            for t in range(frames):
                p = int(pos[t])
                if label < 2:
                    clip[:, t, other:other + 6, p:p + 6] += 2.0
                else:
                    clip[:, t, p:p + 6, other:other + 6] += 2.0
            self.items.append({"clip": clip, "label": label, "clip_id": f"clip{i:03d}"})

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        item = dict(self.items[i])
        if self.poison:
            item["clip"] = torch.full_like(item["clip"], float("nan"))
        return item


def tiny_config(*overrides):
    return load_config("smoke", ["device=cpu", "data.num_frames=6", "model.width=4", "train.epochs=3",
                                 "train.batch_size=8", "train.lr=0.4", "train.deterministic=true",
                                 "train.warmup_epochs=1", *overrides])


def tiny_data(num_classes=4):
    return {"train": MovingSquares(24, num_classes=num_classes), "val": MovingSquares(12, seed=1, num_classes=num_classes)}


class Killed(Exception):
    pass


def _kill_after(epochs):
    def callback(epoch, row):
        if epoch == epochs:
            raise Killed
    return callback


def test_killed_and_resumed_run_ends_with_the_same_weights(tmp_path):
    cfg = tiny_config()
    whole = train_model(cfg, "stabn", tmp_path / "whole", progress=False, datasets=tiny_data())
    with pytest.raises(Killed):
        train_model(cfg, "stabn", tmp_path / "split", progress=False, datasets=tiny_data(), on_epoch_end=_kill_after(1))
    assert read_checkpoint(tmp_path / "split" / "last.pt")["meta"]["epoch"] == 1
    resumed = train_model(cfg, "stabn", tmp_path / "split", progress=False, datasets=tiny_data())
    assert resumed.epochs_trained == 2
    a = read_checkpoint(whole.last_path)["model"]
    b = read_checkpoint(resumed.last_path)["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    timing = {"clips_per_s", "epoch_time_s"}
    assert [{k: v for k, v in r.items() if k not in timing} for r in whole.history] == \
           [{k: v for k, v in r.items() if k not in timing} for r in resumed.history]
    # a finished run is not trained again
    again = train_model(cfg, "stabn", tmp_path / "whole", progress=False, datasets=tiny_data())
    assert again.epochs_trained == 0 and again.history == whole.history


def test_metrics_csv_and_checkpoints_hold_every_head(tmp_path):
    result = train_model(tiny_config("train.epochs=2"), "abn", tmp_path, progress=False, datasets=tiny_data())
    table = pd.read_csv(tmp_path / "metrics.csv")
    assert list(table["epoch"]) == [1, 2]
    for column in ["lr", "clips_per_s", "train_loss_perception", "train_loss_attention", "train_top1_perception",
                   "train_top5_attention", "val_top1_perception", "val_top1_attention", "val_top5_perception"]:
        assert column in table.columns, column
    assert (table["clips_per_s"] > 0).all()
    assert table["train_loss"].iloc[0] == pytest.approx(
        table["train_loss_perception"].iloc[0] + table["train_loss_attention"].iloc[0])
    model, meta = load_model(result.best_path)
    assert meta["arch"] == "abn" and meta["num_classes"] == 4 and meta["num_frames"] == 6
    assert meta["classes"] == MovingSquares.classes
    assert meta["config"]["train"]["epochs"] == 2
    # data only: what rebuilds and evaluates the model, nothing of the run's explanation or scoring settings
    assert set(meta["config"]) == {"seed", "data", "model", "train"}
    assert not model.training
    assert meta["best_metric"] == max(table["val_top1_perception"])
    # best.pt: the highest validation top-1, ties to the lower validation loss
    assert (table["val_loss_perception"] > 0).all() and (table["val_loss_attention"] > 0).all()
    best = table[table["val_top1_perception"] == meta["best_metric"]]["val_loss_perception"].idxmin()
    assert meta["best_epoch"] == table["epoch"][best]
    assert meta["best_loss"] == pytest.approx(table["val_loss_perception"][best])
    # the run explains the final model unless asked for best.pt; checkpoints.csv rows say which epoch
    assert result.checkpoint() == result.last_path and result.checkpoint("best") == result.best_path
    with pytest.raises(ValueError, match="'final' is not valid; valid: last, best"):
        result.checkpoint("final")
    _, last_meta = load_model(result.last_path)
    row = explained_checkpoint_row("abn", result.last_path, last_meta)
    assert row["checkpoint"] == "last" and row["epoch"] == 2 and row["epochs"] == 2
    assert row["best_epoch"] == meta["best_epoch"] and row["best_val_top1"] == meta["best_metric"]


def test_best_checkpoint_rule_breaks_ties_by_validation_loss():
    assert improves(0.5, 2.0, 0.4, 1.0)            # higher top-1 wins whatever the loss
    assert improves(0.5, 0.9, 0.5, 1.0)            # same top-1, lower loss
    assert not improves(0.5, 1.0, 0.5, 1.0)        # a full tie keeps the earlier epoch
    assert not improves(0.4, 0.1, 0.5, 1.0)
    assert improves(0.0, 3.0, float("-inf"), float("inf"))  # the first epoch


def test_summary_notes_the_explained_checkpoints(tmp_path):
    from stabn_bench.benchmark.report.summary import explained_checkpoints_text

    assert explained_checkpoints_text(tmp_path) == ""
    pd.DataFrame([{"model": "abn", "checkpoint": "last", "epoch": 30, "epochs": 30, "best_epoch": 10},
                  {"model": "stabn", "checkpoint": "best", "epoch": 12, "epochs": 30, "best_epoch": 12}]).to_csv(
        tmp_path / "checkpoints.csv", index=False)
    assert explained_checkpoints_text(tmp_path) == ("Explained checkpoints: abn last.pt, epoch 30 of 30 (best validation "
                                                    "top-1 at epoch 10); stabn best.pt, epoch 12 of 30.")


def test_training_learns_the_direction_of_motion(tmp_path):
    cfg = tiny_config("train.epochs=8", "model.dropout=0.0")
    data = tiny_data()
    result = train_model(cfg, "stabn", tmp_path, progress=False, datasets=data)
    assert result.history[-1]["train_loss"] < 0.7 * result.history[0]["train_loss"]
    model, _ = load_model(result.last_path)
    accuracy = evaluate_model(model, eval_loader(data["train"], 8), "cpu")
    assert accuracy["attention"]["top1"] >= 0.75


def test_checkpoint_of_another_architecture_or_class_count_is_refused(tmp_path):
    cfg = tiny_config("train.epochs=1")
    train_model(cfg, "stabn", tmp_path, progress=False, datasets=tiny_data())
    with pytest.raises(CheckpointError, match=r"arch='stabn' \(expected 'abn'\)"):
        train_model(cfg, "abn", tmp_path, progress=False, datasets=tiny_data())
    with pytest.raises(CheckpointError, match=r"num_classes=4 \(expected 2\)"):
        train_model(cfg, "stabn", tmp_path, progress=False, datasets=tiny_data(num_classes=2))
    with pytest.raises(CheckpointError, match=r"num_classes=4 \(expected 174\)"):
        load_model(tmp_path / "last.pt", expected={"arch": "stabn", "num_classes": 174})
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt' cannot be read"):
        load_model(tmp_path / "junk.pt")


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    data = tiny_data()
    train_model(tiny_config("train.epochs=1"), "stabn", tmp_path, progress=False, datasets=data)
    good = read_checkpoint(tmp_path / "last.pt")
    data["train"].poison = True
    with pytest.raises(StabnBenchError, match=r"not finite\) at epoch 2, step 1.*last good checkpoint is kept"):
        train_model(tiny_config("train.epochs=2"), "stabn", tmp_path, progress=False, datasets=data)
    kept = read_checkpoint(tmp_path / "last.pt")
    assert kept["meta"]["epoch"] == 1
    assert all(torch.equal(good["model"][k], kept["model"][k]) for k in good["model"])


def test_learning_rate_schedule():
    cfg = tiny_config("train.epochs=10", "train.warmup_epochs=2", "train.lr=0.1", "train.reference_batch_size=16",
                      "train.schedule=step").train
    assert scaled_lr(cfg, world_size=1) == pytest.approx(0.1 * 8 / 16)
    assert scaled_lr(cfg, world_size=4) == pytest.approx(0.1 * 32 / 16)
    lr = [learning_rate(s, 10, cfg, 1.0) for s in range(100)]
    assert lr[0] == pytest.approx(1 / 20) and lr[19] == pytest.approx(1.0)  # linear warm-up over 2 epochs
    assert lr[20] == 1.0 and lr[49] == 1.0 and lr[50] == pytest.approx(0.1)  # x0.1 at 50%
    assert lr[82] == pytest.approx(0.1) and lr[83] == pytest.approx(0.01)   # and at 83%
    cos = tiny_config("train.epochs=10", "train.schedule=cosine", "train.warmup_epochs=0").train
    values = [learning_rate(s, 10, cos, 1.0) for s in range(100)]
    assert values[0] == pytest.approx(1.0) and values[-1] < 0.001
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_topk_and_accuracy_csv(tmp_path):
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.05], [0.2, 0.3, 0.5]])
    labels = torch.tensor([1, 2, 1])  # ranks 1, 3, 2
    assert topk_correct(logits, labels, ks=(1, 2, 5)).tolist() == [1.0, 2.0, 3.0]
    path = write_accuracy_csv([{"model": "stabn", "head": "perception", "top1": 0.5, "top5": 1.0, "n_clips": 4}],
                              tmp_path / "accuracy.csv")
    table = pd.read_csv(path)
    assert list(table.columns) == ["model", "head", "top1", "top5", "n_clips"]
    assert table.iloc[0].to_dict() == {"model": "stabn", "head": "perception", "top1": 0.5, "top5": 1.0, "n_clips": 4}


def test_evaluate_scores_time_reversed_clips_against_original_labels():
    class Order(torch.nn.Module):  # predicts class 1 when frame 0 is brighter than the last frame, else class 0
        head_names = ("perception",)

        def forward(self, clips):
            from stabn_bench.benchmark.models import VideoModelOutput

            d = clips[:, 0, 0].mean((1, 2)) - clips[:, 0, -1].mean((1, 2))
            return VideoModelOutput(logits=torch.stack([-d, d], dim=1))

    clips = torch.linspace(1, 0, 4)[None, None, :, None, None].expand(3, 1, 4, 2, 2).clone()
    data = [{"clip": c, "label": 1, "clip_id": str(i)} for i, c in enumerate(clips)]
    loader = eval_loader(data, 2)
    result = evaluate_model(Order(), loader, "cpu")["perception"]
    loss = result.pop("loss")  # logits (-1, 1), label 1: CE = log(1 + e^-2)
    assert result == {"top1": 1.0, "top5": 1.0, "n_clips": 3} and loss == pytest.approx(math.log1p(math.exp(-2)))
    assert evaluate_model(Order(), loader, "cpu", reverse=True)["perception"]["top1"] == 0.0


def test_train_and_evaluate_commands_end_to_end(tmp_path, capsys):
    common = [f"data.root={tmp_path / 'data'}", "device=cpu", "model.width=4", "train.epochs=1",
              "data.synthetic.num_videos=24"]
    out = tmp_path / "ckpt"
    assert main(["train", "--preset", "smoke", "--out", str(out), "--no-progress", "model=baseline", *common]) == 0
    assert "baseline: trained 1 epochs" in capsys.readouterr().out
    assert (out / "best.pt").is_file() and (out / "last.pt").is_file() and (out / "metrics.csv").is_file()
    csv = tmp_path / "accuracy.csv"
    assert main(["evaluate", str(out / "best.pt"), "--out", str(csv), "--no-progress"]) == 0
    table = pd.read_csv(csv)
    assert list(table["head"]) == ["perception"] and table["n_clips"].iloc[0] > 0
    assert 0 <= table["top1"].iloc[0] <= table["top5"].iloc[0] <= 1
    # a mistyped model name and a checkpoint of another class count are one-line errors
    assert main(["train", "--preset", "smoke", "model=stabm", *common]) == 2
    assert "unknown model 'stabm'" in capsys.readouterr().err
    assert main(["evaluate", str(out / "best.pt"), "data.synthetic.actions=[right_up,right_down]",
                 "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "trained for 8 classes" in err and "has 2" in err
