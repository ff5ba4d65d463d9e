"""The high-level scorer, the sanity check and the metrics config."""
import pytest
import torch
from torch import nn

from stabn_bench.benchmark.config import ConfigError, check_names, load_config
from stabn_bench.benchmark.config.schema import MetricsConfig
from stabn_bench.benchmark.errors import DataError
from stabn_bench.benchmark.models.outputs import VideoModelOutput
from stabn_bench.metrics import catalog
from stabn_bench.metrics.scoring import make_engine, model_order_sensitivity, reference_curves, score_explanations, selected_metrics
from stabn_bench.metrics.sanity import cascade_layer_names, cascading_randomisation, spearman_per_clip

N, C, T, H, W = 3, 3, 4, 8, 8


class TinyVideoNet(nn.Module):
    def __init__(self, classes=3):
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv3d(C, 4, 3, padding=1)
        self.head = nn.Conv3d(4, 4, 1)
        self.fc = nn.Linear(4 * T, classes)

    def forward(self, x):
        feats = torch.relu(self.head(torch.relu(self.stem(x)))).mean(dim=(3, 4))
        return VideoModelOutput(logits=self.fc(feats.flatten(1)))


def inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    clips = torch.randn(N, C, T, H, W, generator=g)
    maps = torch.rand(N, T, H, W, generator=g)
    evidence = torch.zeros(N, T, H, W)
    evidence[:, 1:3, 2:5, 2:5] = 1
    window = torch.tensor([[0, 1, 1, 0]] * N, dtype=torch.float32)
    return clips, maps, maps.sum(dim=(2, 3)), evidence, window


def small_cfg(**changes):
    cfg = MetricsConfig(steps=4, tube_size=[2, 4, 4], blur_sigma=1.0)
    for key, value in changes.items():
        setattr(cfg, key, value)
    return cfg


def test_score_explanations_gives_every_selected_metric_per_clip():
    model = TinyVideoNet().eval()
    clips, maps, temporal, evidence, window = inputs()
    targets = torch.tensor([0, 1, 2])
    cfg = small_cfg(granularities=["tube", "voxel"])
    result = score_explanations(model, clips, maps, temporal, targets, targets, cfg, evidence=evidence, window=window,
                                window_prior=torch.full((T,), 0.5))
    from stabn_bench.metrics.scoring import MODEL_LEVEL, NEEDS_MODEL

    expected = set(selected_metrics(cfg)) - set(NEEDS_MODEL) - set(MODEL_LEVEL)
    assert set(result.values) == expected
    assert {"sparseness", "complexity_per_frame"} <= set(result.values)  # pure map functions: on every clip
    assert "deletion_auc_voxel" in result.values and "deletion_voxel" in result.curves
    for name, value in result.values.items():
        assert name in catalog.METRICS and value.shape == (N,) and value.dtype == torch.float64
    for fractions, scores in result.curves.values():
        assert fractions.shape == scores.shape and fractions[:, 0].eq(0).all() and fractions[:, -1].eq(1).all()
        assert ((scores >= 0) & (scores <= 1)).all()
    assert result.curves["frame_deletion"].scores.shape == (N, T + 1)
    torch.testing.assert_close(result.values["lerf_minus_morf"],
                               (result.curves["deletion_lerf"].auc() - result.curves["deletion"].auc()) / 2)


def test_metrics_without_inputs_are_skipped_and_selection_is_respected():
    model = TinyVideoNet().eval()
    clips, maps, temporal, _, _ = inputs()
    targets = torch.tensor([0, 0, 1])
    result = score_explanations(model, clips, maps, temporal, targets, targets, small_cfg())
    assert not {"pointing_game", "energy_pointing_game", "relevance_rank_accuracy", "temporal_auroc"} & set(result.values)
    only = score_explanations(model, clips, maps, temporal, targets, targets, small_cfg(metrics=["insertion_auc", "keep_top_k_accuracy"]))
    assert set(only.values) == {"insertion_auc", "keep_top_k_accuracy"} and set(only.curves) == {"insertion"}


def test_reference_curves_are_reused_and_change_nothing():
    model = TinyVideoNet().eval()
    clips, maps, temporal, evidence, window = inputs()
    targets = torch.tensor([2, 1, 0])
    cfg = small_cfg()
    engine = make_engine(lambda x: model(x).logits, cfg)
    reference = reference_curves(engine, clips, targets, cfg, seed=0)
    assert {"deletion_random", "insertion_random", "frame_deletion_random", "frame_insertion_random"} <= set(reference.curves)
    before, before_reused = engine.inputs_evaluated, engine.inputs_reused
    reused = score_explanations(lambda x: model(x).logits, clips, maps, temporal, targets, targets, cfg, random_curves=reference)
    spent = engine.inputs_evaluated - before
    asked = spent + engine.inputs_reused - before_reused
    # per method: MoRF deletion, LeRF deletion, MoRF insertion (3 inner steps each), 2 frame curves (3 each), keep-k;
    # the engine's memo runs an input that two of them share (or the reference curves ran) only once
    assert asked == N * (3 * 3 + 2 * 3 + 1)
    assert 0 < spent <= asked
    fresh = score_explanations(model, clips, maps, temporal, targets, targets, cfg)
    for name in fresh.values:
        torch.testing.assert_close(fresh.values[name], reused.values[name], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="other targets"):
        score_explanations(model, clips, maps, temporal, targets.flip(0), targets, cfg, random_curves=reference)


def test_bad_maps_are_errors():
    model = TinyVideoNet().eval()
    clips, maps, temporal, _, _ = inputs()
    maps[2, 0, 0, 0] = float("inf")
    targets = torch.zeros(N, dtype=torch.long)
    with pytest.raises(DataError, match=r"method 'gradcam'.*clip c2"):
        score_explanations(model, clips, maps, temporal, targets, targets, small_cfg(), method="gradcam", clip_ids=["c0", "c1", "c2"])
    with pytest.raises(ValueError, match=r"\(N, T, H, W\)"):
        score_explanations(model, clips, maps[:, :2].nan_to_num(posinf=1.0), temporal, targets, targets, small_cfg())


def test_model_order_sensitivity_values():
    model = TinyVideoNet().eval()
    clips = inputs()[0]
    values = model_order_sensitivity(model, clips, seed=0)
    assert set(values) == {"shuffle_prediction_change", "reverse_prediction_change"}
    assert all(v.shape == (N,) and set(v.tolist()) <= {0.0, 1.0} for v in values.values())


def test_cascading_randomisation():
    model = TinyVideoNet().eval()
    clips = inputs()[0]
    targets = torch.tensor([0, 1, 2])
    original = {k: v.clone() for k, v in model.state_dict().items()}

    def gradient_times_input(net, x, target):
        x = x.clone().requires_grad_(True)
        net(x).logits.gather(1, target.view(-1, 1)).sum().backward()
        return (x.grad * x).sum(dim=1).detach()

    def model_blind(net, x, target):  # ignores the model: must stay perfectly correlated
        return x.abs().sum(dim=1)

    assert cascade_layer_names(model) == ["fc", "head", "stem"]
    result = cascading_randomisation(model, gradient_times_input, clips, targets, seed=0)
    assert result.correlations.shape == (3, N) and result.score.shape == (N,)
    assert (result.correlations.abs() <= 1).all() and (result.score < 0.9).all()
    blind = cascading_randomisation(model, model_blind, clips, targets, layers=["fc", "head"])
    torch.testing.assert_close(blind.score, torch.ones(N, dtype=torch.float64))
    assert all(torch.equal(original[k], v) for k, v in model.state_dict().items())  # the model is untouched
    with pytest.raises(ValueError, match="not in the model"):
        cascading_randomisation(model, model_blind, clips, targets, layers=["res9"])
    assert torch.isnan(spearman_per_clip(torch.ones(1, 5), torch.rand(1, 5))).all()


def test_metrics_config_validation():
    cfg = load_config("smoke", ["metrics.granularities=[voxel,frame]", "metrics.temporal_substrate=frozen"])
    assert cfg.metrics.granularities == ["voxel", "frame"]
    with pytest.raises(ConfigError, match="deletion_au.*did you mean 'deletion_auc'"):
        check_names(load_config("smoke", ["metrics.metrics=[deletion_au]"]))  # names: the step after parsing
    with pytest.raises(ConfigError, match="metrics.tube_size"):
        load_config("smoke", ["metrics.tube_size=[2,8]"])
    with pytest.raises(ConfigError, match="metrics.granularities"):
        load_config("smoke", ["metrics.granularities=[pixel]"])
