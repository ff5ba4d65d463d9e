"""``stabn_bench.evaluate``: any video classifier, the same engine, registry and statistics as a run."""
from __future__ import annotations

import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import stabn_bench
from stabn_bench.api import AnyVideoModel, find_gradcam_layer
from stabn_bench.benchmark.config import ConfigError

README = Path(__file__).resolve().parent.parent / "README.md"


class ConstantVideoModel(nn.Module):
    """Returns an object with ``.logits`` (like many model hubs); the logits ignore the clip."""

    def __init__(self):
        super().__init__()
        self.stage = nn.Conv3d(3, 2, 1)
        self.bias = nn.Parameter(torch.tensor([0.0, 1.0, 2.0]))

    def forward(self, clips):
        features = self.stage(clips)
        return SimpleNamespace(logits=self.bias.expand(clips.shape[0], -1) + 0 * features.mean())


class Exploding(nn.Module):
    """A model that must never run: validation has to fail first."""

    def forward(self, clips):  # pragma: no cover - failing here is the test failing
        raise AssertionError("the model ran before the names were checked")


def test_known_answers_on_a_model_that_ignores_the_clip(one_thread):
    """The target probability never changes: every deletion / insertion AUC equals it, and nothing moves the
    prediction when the frames are shuffled."""
    model = ConstantVideoModel()
    clips = torch.randn(3, 3, 4, 8, 8)
    scores = stabn_bench.evaluate(model, clips, torch.tensor([0, 1, 2]), methods=["saliency", "random"],
                                  metrics=["deletion_auc", "insertion_auc", "shuffle_prediction_change"],
                                  clip_ids=["a", "b", "c"], model_name="constant", settings={"steps": 4})
    assert list(scores.columns) == ["model", "method", "metric", "clip_id", "value"]
    assert scores.attrs["errors"].empty
    probability = torch.tensor([0.0, 1.0, 2.0]).softmax(0).tolist()
    for method in ("saliency", "random"):
        for metric in ("deletion_auc", "insertion_auc"):
            rows = scores[(scores.method == method) & (scores.metric == metric)].sort_values("clip_id")
            assert rows["clip_id"].tolist() == ["a", "b", "c"]
            assert rows["value"].tolist() == pytest.approx(probability, abs=1e-6)
    level = scores[scores.method == "-"]
    assert set(level.metric) == {"shuffle_prediction_change"} and (level.value == 0).all()
    assert set(scores.model) == {"constant"}


@pytest.mark.slow
def test_r3d_18_with_random_weights_gets_every_kind_of_score(one_thread):
    from torchvision.models.video import r3d_18

    torch.manual_seed(0)
    model = r3d_18(weights=None, num_classes=3)
    clips = torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(1))
    masks = torch.zeros(2, 4, 32, 32)
    masks[:, :, 8:24, 8:24] = 1
    windows = torch.tensor([[0, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.float32)
    metrics = ["deletion_auc", "insertion_auc", "pointing_game", "temporal_auroc", "reverse_prediction_change"]
    assert find_gradcam_layer(model, clips) is model.layer4
    scores = stabn_bench.evaluate(model, clips, torch.tensor([0, 2]), methods=["saliency", "gradcam", "deeplift"],
                                  metrics=metrics, masks=masks, windows=windows, settings={"steps": 4}, batch_size=2)
    assert scores.attrs["errors"].empty
    per_method = scores[scores.method != "-"]
    assert set(per_method.method) == {"saliency", "gradcam", "deeplift"}
    assert len(per_method) == 3 * 4 * 2  # methods x per-method metrics x clips
    assert set(scores[scores.method == "-"].metric) == {"reverse_prediction_change"}
    assert set(scores.model) == {"VideoResNet"}
    assert scores["value"].between(0, 1).all()
    summary = stabn_bench.summarise(scores, n_resamples=100)
    assert {"mean", "ci_low", "ci_high", "n"} <= set(summary.columns) and (summary["n"] == 2).all()

def test_the_models_mode_is_restored_and_only_generic_methods_apply():
    model = ConstantVideoModel().train()
    scores = stabn_bench.evaluate(model, torch.randn(1, 3, 2, 8, 8), metrics=["insertion_auc"],
                                  methods=["all"], settings={"steps": 2},
                                  options={"integrated-gradients": {"n_steps": 2}, "smoothgrad": {"nt_samples": 2},
                                           "deeplift-shap": {"references": 2}, "gradient-shap": {"n_samples": 2}})
    assert model.training
    assert "stabn-attention" not in set(scores.method) and "saliency" in set(scores.method)


@pytest.mark.parametrize("kwargs, message", [
    ({"methods": ["gradcamm"]}, "unknown method 'gradcamm'.*did you mean 'gradcam'"),
    ({"metrics": ["deletion_aucc"]}, "unknown metric 'deletion_aucc'.*did you mean 'deletion_auc'"),
    ({"methods": ["occlusion"], "options": {"occlusion": {"windw": [1, 2, 2]}}},
     "no option 'windw'; valid options: baseline, stride, window; did you mean 'window'"),
    ({"settings": {"substrate": "blurr"}}, "metrics.substrate' has value 'blurr'"),
])
def test_mistyped_names_fail_before_any_work(kwargs, message):
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=message):
        stabn_bench.evaluate(Exploding(), torch.randn(1, 3, 2, 8, 8), **kwargs)
    assert time.perf_counter() - started < 1.0


def test_a_wrapped_model_returns_video_model_outputs():
    inner = ConstantVideoModel()
    wrapped = AnyVideoModel(inner, example=torch.randn(1, 3, 2, 8, 8))
    assert wrapped.gradcam_layer is inner.stage
    assert [name for name, _ in wrapped.named_children()] == ["model"]  # the layer is not registered twice
    out = wrapped(torch.randn(2, 3, 2, 8, 8))
    assert out.logits.shape == (2, 3)


def test_public_api_is_exported_lazily():
    import subprocess
    import sys

    code = "import sys, stabn_bench; assert 'torch' not in sys.modules and 'evaluate' in dir(stabn_bench)"
    subprocess.run([sys.executable, "-c", code], check=True)
    for name in ("evaluate", "explain", "register_method", "register_metric", "available_methods", "summarise"):
        assert callable(getattr(stabn_bench, name))
    assert stabn_bench.register_metric is stabn_bench.metrics.register_metric
    with pytest.raises(AttributeError, match="no attribute 'evaluat'"):
        _ = stabn_bench.evaluat


@pytest.mark.slow
def test_the_readme_api_example_runs_as_written(one_thread):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    block = next(b for b in blocks if "stabn_bench.evaluate(" in b)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    scores = namespace["scores"]
    assert set(scores.method) == {"saliency", "gradcam", "deeplift", "random"}
    assert set(scores.metric) == {"deletion_auc", "insertion_auc", "frame_deletion_auc"}
    assert len(scores) == 4 * 3 * 2 and scores.attrs["errors"].empty
