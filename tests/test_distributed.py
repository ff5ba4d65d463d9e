"""DDP on CPU: two gloo processes train one model and reduce metrics; sharding helpers."""
import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from stabn_bench.benchmark import distributed
from stabn_bench.benchmark.training import evaluate_model, load_model, train_model
from stabn_bench.benchmark.training.data import eval_loader


def test_shard_is_disjoint_covering_and_unpadded():
    items = list(range(11))
    shards = [distributed.shard(items, r, 3) for r in range(3)]
    assert sorted(item for shard in shards for item in shard) == items
    assert [len(s) for s in shards] == [4, 4, 3]
    assert len(distributed.ShardSampler(11, 2, 3)) == 3 and list(distributed.ShardSampler(11, 2, 3)) == [2, 5, 8]
    # outside torchrun: one process, rank 0
    assert distributed.rank() == 0 and distributed.world_size() == 1 and distributed.is_main()
    assert distributed.shard(items) == items
    assert torch.equal(distributed.all_reduce_sum(torch.tensor([1.0, 2.0])), torch.tensor([1.0, 2.0]))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world_size, port, out_dir):
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world_size),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    from test_training import tiny_config, tiny_data

    data = tiny_data()
    result = train_model(tiny_config("train.epochs=2"), "stabn", os.path.join(out_dir, "ckpt"), progress=False,
                         datasets=data)
    assert distributed.world_size() == world_size  # the process group came from the torchrun variables
    torch.save(result.model.state_dict(), os.path.join(out_dir, f"rank{rank}.pt"))
    accuracy = evaluate_model(result.model, eval_loader(data["val"], 4), "cpu")  # each rank: its shard, reduced
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump({"accuracy": accuracy, "history": result.history}, f)
    distributed.cleanup()


@pytest.mark.slow
def test_two_gloo_processes_train_one_model_and_reduce_metrics(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    timing = {"clips_per_s", "epoch_time_s"}
    for report in reports:
        report["history"] = [{k: v for k, v in row.items() if k not in timing} for row in report["history"]]
    assert reports[0] == reports[1]
    # rank 0 wrote the checkpoint; evaluated in one process on the whole validation set it gives the same numbers
    from test_training import tiny_data

    torch.set_num_threads(1)
    model, meta = load_model(tmp_path / "ckpt" / "last.pt")
    assert meta["epoch"] == 2
    for key, value in model.state_dict().items():
        assert torch.equal(value, a[key]), key
    single = evaluate_model(model, eval_loader(tiny_data()["val"], 4), "cpu")
    for head, values in single.items():  # counts exact; the mean loss to float round-off (summed in shards there)
        reduced = dict(reports[0]["accuracy"][head])
        assert reduced.pop("loss") == pytest.approx(values["loss"], rel=1e-6)
        assert reduced == {k: v for k, v in values.items() if k != "loss"}
    assert single["perception"]["n_clips"] == 12
    # the per-epoch validation numbers are reduced over both shards: multiples of 1/12 (12 clips), not of 1/6
    history = reports[0]["history"]
    assert len(history) == 2
    assert history[-1]["val_top1_perception"] == single["perception"]["top1"]
