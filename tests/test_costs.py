"""The cost ledger: seconds and forward passes per part of the explain-and-score work add up to the whole."""
from __future__ import annotations

import torch

from stabn_bench.core import MODEL_LEVEL
from stabn_bench.metrics.costs import Cost, exclusive
from stabn_bench.metrics.engine import PerturbationEngine


class _Linear(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(3 * 4 * 8 * 8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def test_nested_parts_count_the_engines_forwards_and_exclusive_costs_add_up():
    engine = PerturbationEngine(_Linear().eval(), batch_size=4)
    clips = torch.randn(3, 3, 4, 8, 8)
    targets = torch.tensor([0, 1, 2])
    with engine.costs.part("outer"):
        engine.predict(clips, targets)               # 3 forwards in "outer" itself
        with engine.costs.part("inner"):
            engine.predict(clips[:2], targets[:2])   # 2 forwards in "outer/inner"
    parts = engine.costs.take()
    assert set(parts) == {"outer", "outer/inner"}
    assert parts["outer"].forwards == 5 and parts["outer/inner"].forwards == 2
    assert parts["outer"].seconds >= parts["outer/inner"].seconds > 0
    own = exclusive(parts)
    assert own["outer"].forwards == 3 and own["outer/inner"].forwards == 2
    assert abs(sum(c.seconds for c in own.values()) - parts["outer"].seconds) < 1e-9
    assert engine.costs.take() == {}  # taken: the ledger starts afresh
    assert Cost.from_list(parts["outer"].as_list()).forwards == 5


def test_clip_batch_costs_account_for_every_scoring_forward():
    from stabn_bench.benchmark.config.schema import ExplainConfig, MetricsConfig
    from stabn_bench.benchmark.models import build_model
    from stabn_bench.benchmark.pipeline.clip_batch import ClipBatchInputs, score_clip_batch

    torch.manual_seed(0)
    model = build_model("baseline", 4, depth=18, width=4, num_frames=4).eval()
    n, t, size = 2, 4, 32
    clips = torch.randn(n, 3, t, size, size)
    evidence = torch.zeros(n, t, size, size)
    evidence[:, :, 8:16, 8:16] = 1
    window = torch.zeros(n, t)
    window[:, 1:3] = 1
    metrics = MetricsConfig(metrics=["deletion_auc", "insertion_auc", "frame_deletion_auc", "keep_top_k_accuracy",
                                     "deletion_auc_vs_random"], steps=4, tube_size=[2, 8, 8], batch_size=4)
    inputs = ClipBatchInputs(clips=clips, targets=torch.tensor([0, 1]), labels=torch.tensor([0, 1]),
                             clip_ids=["a", "b"], seed=0, evidence=evidence, window=window)
    units = list(score_clip_batch(model, inputs, [MODEL_LEVEL, "saliency", "random"], metrics, ExplainConfig(),
                                  tie_methods=["random"]))
    for unit in units:
        top = [cost for part, cost in unit.costs.items() if "/" not in part and part != "reference"]
        assert sum(c.forwards for c in top) == unit.inputs_scored
    saliency = units[1].costs
    assert {"explain", "score", "score/deletion", "score/insertion", "score/frame_deletion", "score/keep_top_k"} <= set(saliency)
    assert saliency["score"].forwards == sum(c.forwards for p, c in saliency.items() if p.startswith("score/"))
    assert "ties" in units[2].costs and "ties" not in saliency
    assert {"reference/endpoints", "reference/deletion_random"} <= set(units[0].costs)  # shared curves: model level
