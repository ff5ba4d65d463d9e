"""Explanation methods on tiny stand-in models: known answers, shapes, determinism and failure reports."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stabn_bench import baselines
from stabn_bench.baselines import MethodError, explain, explain_all, register_method, unregister_method
from stabn_bench.baselines.postprocess import BROADCAST, NO_REDUCTION, REDUCTION, UPSAMPLING
from stabn_bench.benchmark.errors import StabnBenchError
from stabn_bench.benchmark.models.outputs import VideoModelOutput

GRADIENT_METHODS = ["gradcam", "guided-gradcam", "saliency", "input-x-gradient", "integrated-gradients",
                    "smoothgrad", "guided-backprop"]
PERTURBATION_METHODS = ["occlusion", "feature-ablation"]
CONTROLS = ["random", "centre-prior", "motion", "uniform"]
STABN_METHODS = ["stabn-attention", "stabn-spatial", "stabn-temporal", "stabn-spatial-inverse"]
#: methods for abn / stabn that need the real networks' named layers (tests/test_baselines_real_models.py)
ATTENTION_LAYER_METHODS = ["gradcam-attention"]
#: cheap settings for the many-forwards methods where a test does not need the defaults
CHEAP = {"integrated-gradients": {"n_steps": 4}, "smoothgrad": {"nt_samples": 4},
         "occlusion": {"window": (2, 8, 8), "stride": (1, 4, 4)}, "feature-ablation": {"tube": (2, 8, 8)}}


class TinyVideoModel(nn.Module):
    """Follows the models' contract: VideoModelOutput, ``arch``, ``gradcam_layer`` (N, C, T, h, w); the stabn
    and abn variants also return M_s (N, T, h, w) (and M_t (N, T) for stabn) at half the input resolution."""

    def __init__(self, arch: str = "stabn", num_classes: int = 5, width: int = 6):
        super().__init__()
        self.arch = arch
        self.stem = nn.Sequential(nn.Conv3d(3, width, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
                                  nn.BatchNorm3d(width), nn.ReLU(inplace=True))
        self.res5 = nn.Sequential(nn.Conv3d(width, width, 3, padding=1), nn.ReLU(inplace=True))
        self.spatial = nn.Conv3d(width, 1, 1)
        self.temporal = nn.Linear(width, 1)
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(width, num_classes)
        self.gradcam_layer = self.res5

    def forward(self, clips: torch.Tensor) -> VideoModelOutput:
        feats = self.stem(clips)
        ms = mt = None
        if self.arch in ("abn", "stabn"):
            ms = torch.sigmoid(self.spatial(feats)).squeeze(1)  # (N, T, h, w)
            feats = feats * (1 + ms[:, None])
        if self.arch == "stabn":
            mt = torch.sigmoid(self.temporal(feats.mean(dim=(3, 4)).transpose(1, 2))).squeeze(2)  # (N, T)
            feats = feats * mt[:, None, :, None, None]
        out = self.res5(feats).mean(dim=(2, 3, 4))
        return VideoModelOutput(logits=self.fc(self.dropout(out)), spatial_attention=ms, temporal_attention=mt)


class RegionModel(nn.Module):
    """A model whose output depends only on a known region of known frames: the clip is multiplied by the
    region's mask before anything else; class 0's logit grows with the (positive) features."""

    def __init__(self, region: torch.Tensor, num_classes: int = 3, width: int = 4):
        super().__init__()
        self.arch = "baseline"
        self.register_buffer("region", region[None, None].float())  # (1, 1, T, H, W)
        self.conv = nn.Conv3d(3, width, 1, bias=False)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(width, num_classes)
        self.gradcam_layer = self.relu
        with torch.no_grad():
            self.conv.weight.copy_(torch.linspace(-1, 1, width * 3).reshape(width, 3, 1, 1, 1))
            self.fc.weight.copy_(torch.stack([torch.full((width,), 1.0 + k) * (1 if k == 0 else -1)
                                              for k in range(num_classes)]))
            self.fc.bias.zero_()

    def forward(self, clips: torch.Tensor) -> VideoModelOutput:
        feats = self.relu(self.conv(clips * self.get_buffer("region")))
        return VideoModelOutput(logits=self.fc(feats.mean(dim=(2, 3, 4))))


def _clips(n=2, t=8, h=16, w=16, seed=0):
    return torch.randn(n, 3, t, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def stabn_model():
    torch.manual_seed(0)
    return TinyVideoModel("stabn").eval()


def test_registry_holds_the_methods_with_models_and_costs():
    names = baselines.available_methods()
    for name in GRADIENT_METHODS + PERTURBATION_METHODS + CONTROLS + STABN_METHODS:
        assert name in names
    assert set(baselines.available_methods("baseline")) == set(names) - set(STABN_METHODS + ATTENTION_LAYER_METHODS)
    assert baselines.get_method("stabn-spatial-inverse").kind == "control"
    assert baselines.get_method("gradcam-attention").kind == "cam"
    assert baselines.get_method("gradcam-attention").models == ("abn", "stabn")
    assert "stabn-spatial" in baselines.available_methods("abn")
    assert "stabn-attention" not in baselines.available_methods("abn")
    assert baselines.get_method("stabn-attention").cost == "free"
    assert baselines.get_method("saliency").cost == "one-backward"
    assert baselines.get_method("occlusion").cost == "many-forwards"
    assert baselines.select_methods(["all"], "baseline") == baselines.available_methods("baseline")
    assert baselines.select_methods(["stabn-attention", "saliency"], "baseline") == ["saliency"]


# ---------------------------------------------------------------- known answer: evidence in a known region

def _region(t=8, h=32, w=32) -> torch.Tensor:
    """Frames 2..5, the top-right quadrant: 1/8 of the clip's voxels, away from the centre."""
    region = torch.zeros(t, h, w)
    region[2:6, : h // 2, w // 2:] = 1
    return region


def _mass_in(maps: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """(N, T, H, W) non-negative maps -> (N,) share of each map's mass inside ``region``."""
    return (maps * region).sum(dim=(1, 2, 3)) / maps.sum(dim=(1, 2, 3))


@pytest.fixture(scope="module")
def region_case():
    region = _region()
    model = RegionModel(region).eval()
    clips = _clips(n=2, t=8, h=32, w=32, seed=1)
    return model, clips, region


@pytest.mark.parametrize("name", GRADIENT_METHODS)
def test_gradient_methods_put_their_mass_on_the_evidence(region_case, name):
    model, clips, region = region_case
    exp = explain(name, model, clips, target_kind="predicted")
    assert exp.targets.tolist() == [0, 0]  # class 0 is the only class the features raise
    assert (exp.spatiotemporal >= 0).all()
    mass = _mass_in(exp.spatiotemporal, region)
    assert (mass > 0.99).all(), f"{name}: mass in region {mass.tolist()}"
    # per-frame importance: all of it in frames 2..5
    frames = exp.temporal / exp.temporal.sum(dim=1, keepdim=True)
    assert (frames[:, 2:6].sum(dim=1) > 0.99).all()


@pytest.mark.parametrize("name", PERTURBATION_METHODS)
def test_perturbation_methods_put_most_mass_on_the_evidence(region_case, name):
    model, clips, region = region_case
    exp = explain(name, model, clips, batch_size=64)  # default windows and tubes, 32 perturbed clips per pass
    mass = _mass_in(exp.spatiotemporal, region)
    assert (mass > 0.5).all(), f"{name}: mass in region {mass.tolist()}"


def test_random_control_does_not_find_the_evidence(region_case):
    model, clips, region = region_case
    mass = _mass_in(explain("random", model, clips).spatiotemporal, region)
    share = region.mean().item()  # 1/8 of the voxels
    assert ((mass - share).abs() < 0.05).all(), mass.tolist()


# ---------------------------------------------------------------- every method: shapes, finite, deterministic

@pytest.mark.parametrize("name", GRADIENT_METHODS + PERTURBATION_METHODS + CONTROLS + STABN_METHODS)
def test_every_method_returns_finite_maps_of_the_right_shape_deterministically(stabn_model, name):
    clips = _clips(n=3, t=4, h=16, w=16)
    options = CHEAP.get(name, {})
    first = explain(name, stabn_model, clips, seed=3, batch_size=2, **options)  # two chunks: 2 + 1 clips
    again = explain(name, stabn_model, clips, seed=3, batch_size=2, **options)
    assert first.spatiotemporal.shape == (3, 4, 16, 16)
    assert first.temporal.shape == (3, 4)
    assert first.spatiotemporal.dtype == torch.float32 and first.spatiotemporal.device.type == "cpu"
    assert torch.isfinite(first.spatiotemporal).all() and torch.isfinite(first.temporal).all()
    assert torch.equal(first.spatiotemporal, again.spatiotemporal)
    assert torch.equal(first.temporal, again.temporal)
    assert first.method == name and first.cost == baselines.get_method(name).cost
    assert first.target_kind == "predicted" and first.targets.shape == (3,)
    assert first.reduction in (REDUCTION, NO_REDUCTION)
    assert stabn_model.training is False


def test_explain_restores_training_mode_and_leaves_global_rng_alone(stabn_model):
    model = TinyVideoModel("stabn").train()
    state = torch.random.get_rng_state()
    explain("smoothgrad", model, _clips(n=1, t=4), seed=1)
    assert model.training is True
    assert torch.equal(torch.random.get_rng_state(), state)


def test_seed_changes_the_random_draws_only(stabn_model):
    clips = _clips(n=2, t=4)
    for name in ["random", "smoothgrad"]:
        a = explain(name, stabn_model, clips, seed=0).spatiotemporal
        b = explain(name, stabn_model, clips, seed=1).spatiotemporal
        assert not torch.allclose(a, b), name
    a = explain("saliency", stabn_model, clips, seed=0).spatiotemporal
    assert torch.equal(a, explain("saliency", stabn_model, clips, seed=1).spatiotemporal)


def test_gradient_shap_depends_on_its_seed_alone(stabn_model):
    """Captum's GradientShap draws from NumPy's and Python's global generators: explain seeds them too (and puts
    them back), so the same seed gives the same map whatever ran before, in this process or a worker process."""
    import random

    import numpy as np

    clips = _clips(n=2, t=4)
    options = {"n_samples": 3, "references": 2}
    first = explain("gradient-shap", stabn_model, clips, seed=3, **options).spatiotemporal
    np.random.seed(12345)
    random.seed(12345)
    np.random.uniform(size=7)
    numpy_state, python_state = np.random.get_state(), random.getstate()
    again = explain("gradient-shap", stabn_model, clips, seed=3, **options).spatiotemporal
    assert torch.equal(first, again)
    assert not torch.equal(first, explain("gradient-shap", stabn_model, clips, seed=4, **options).spatiotemporal)
    assert np.array_equal(np.random.get_state()[1], numpy_state[1]) and random.getstate() == python_state


def test_targets_are_explicit_and_recorded(stabn_model):
    clips = _clips(n=2, t=4)
    predicted = baselines.resolve_targets(stabn_model, clips, None, "predicted")
    assert torch.equal(predicted, stabn_model(clips).logits.argmax(1))
    labels = (predicted + 1) % 5
    by_label = explain("saliency", stabn_model, clips, baselines.resolve_targets(stabn_model, clips, labels, "label"),
                       target_kind="label")
    assert by_label.target_kind == "label" and torch.equal(by_label.targets, labels)
    by_prediction = explain("saliency", stabn_model, clips)
    assert torch.equal(by_prediction.targets, predicted)
    assert not torch.allclose(by_label.spatiotemporal, by_prediction.spatiotemporal)
    with pytest.raises(MethodError, match="needs targets"):
        explain("saliency", stabn_model, clips, target_kind="label")
    with pytest.raises(StabnBenchError, match="needs the clips' labels"):
        baselines.resolve_targets(stabn_model, clips, None, "label")


# ---------------------------------------------------------------- ST-ABN's own map, and the controls' formulas

def _minmax(x, dims):
    low, high = x.amin(dim=dims, keepdim=True), x.amax(dim=dims, keepdim=True)
    return (x - low) / (high - low)


def test_stabn_attention_equals_ms_times_mt_from_the_forward_pass_upsampled(stabn_model):
    clips = _clips(n=2, t=4, h=16, w=16)
    with torch.no_grad():
        out = stabn_model(clips)
    ms, mt = out.spatial_attention, out.temporal_attention
    assert ms.shape == (2, 4, 8, 8)  # half resolution: the map must be upsampled
    # each normalised per clip (min-max), then multiplied, as the authors display M_s and M_t
    ms_n, mt_n = _minmax(ms, (1, 2, 3)), _minmax(mt, 1)
    expected = F.interpolate((ms_n * mt_n[:, :, None, None])[:, None], size=(4, 16, 16), mode="trilinear",
                             align_corners=False)[:, 0]
    exp = explain("stabn-attention", stabn_model, clips)
    torch.testing.assert_close(exp.spatiotemporal, expected)
    torch.testing.assert_close(exp.temporal, mt_n)  # native per-frame importance, normalised per clip
    assert exp.temporal.amin(dim=1).eq(0).all() and exp.temporal.amax(dim=1).eq(1).all()
    assert exp.upsampling == UPSAMPLING
    spatial = explain("stabn-spatial", stabn_model, clips)
    torch.testing.assert_close(spatial.spatiotemporal, F.interpolate(ms[:, None], size=(4, 16, 16), mode="trilinear",
                                                                     align_corners=False)[:, 0])
    inverse = explain("stabn-spatial-inverse", stabn_model, clips)
    torch.testing.assert_close(inverse.spatiotemporal, 1 - spatial.spatiotemporal)
    temporal = explain("stabn-temporal", stabn_model, clips)
    torch.testing.assert_close(temporal.spatiotemporal, mt[:, :, None, None].expand(2, 4, 16, 16))
    assert temporal.upsampling == BROADCAST


def test_controls_follow_their_definitions():
    model = TinyVideoModel("baseline").eval()
    clips = _clips(n=1, t=4, h=16, w=16)
    motion = explain("motion", model, clips).spatiotemporal
    diff = (clips[:, :, 1:] - clips[:, :, :-1]).abs().sum(dim=1)
    torch.testing.assert_close(motion[:, 1:], diff)
    torch.testing.assert_close(motion[:, 0], diff[:, 0])
    prior = explain("centre-prior", model, clips).spatiotemporal[0]
    assert torch.equal(prior[0], prior[3])  # equal across frames
    centre = prior[0, 7:9, 7:9].min()
    assert centre == prior[0].max() and prior[0, 0, 0] < 0.2 * centre
    rand = explain("random", model, clips).spatiotemporal
    assert rand.min() >= 0 and rand.max() < 1


def test_attention_methods_refuse_models_without_attention():
    baseline = TinyVideoModel("baseline").eval()
    with pytest.raises(MethodError, match="stabn-attention.*applies to models stabn; this model is 'baseline'"):
        explain("stabn-attention", baseline, _clips(n=1, t=4))


# ---------------------------------------------------------------- bad input and failing methods

def test_unknown_method_lists_known_ones_with_a_close_match():
    with pytest.raises(MethodError) as err:
        baselines.get_method("gradcamm")
    message = str(err.value)
    assert "did you mean 'gradcam'" in message and "integrated-gradients" in message and "\n" not in message
    with pytest.raises(MethodError, match="did you mean 'smoothgrad'"):
        explain("smooth-grad", TinyVideoModel("baseline"), _clips(n=1, t=4))


def test_unknown_option_names_the_valid_ones(stabn_model):
    with pytest.raises(MethodError, match="unknown option.*n_step.*valid options: baseline, batch_size, n_steps"):
        explain("integrated-gradients", stabn_model, _clips(n=1, t=4), n_step=4)
    fewer = explain("integrated-gradients", stabn_model, _clips(n=1, t=4), n_steps=2)
    assert fewer.options["n_steps"] == 2


@pytest.fixture()
def broken_methods():
    @register_method("test-raises", cost="free")
    def raises(model, clips, targets):
        raise RuntimeError("boom\nsecond line")

    @register_method("test-wrong-shape", cost="free")
    def wrong_shape(model, clips, targets):
        n, _, t, h, w = clips.shape
        return torch.ones(n, t, h + 1, w)

    @register_method("test-nan", cost="free")
    def nan(model, clips, targets):
        maps = torch.ones(clips.shape[0], *clips.shape[2:])
        maps[0, 0, 0, 0] = float("nan")
        return maps

    yield ["test-raises", "test-wrong-shape", "test-nan"]
    for name in ["test-raises", "test-wrong-shape", "test-nan"]:
        unregister_method(name)


def test_failing_methods_are_reported_by_name_with_the_reason(broken_methods, stabn_model):
    clips = _clips(n=2, t=4)
    with pytest.raises(MethodError, match=r"'test-raises': raised RuntimeError: boom$"):
        explain("test-raises", stabn_model, clips)
    with pytest.raises(MethodError, match=r"'test-wrong-shape': returned a map of shape \(2, 4, 17, 16\)"):
        explain("test-wrong-shape", stabn_model, clips)
    with pytest.raises(MethodError, match=r"'test-nan': returned NaN in 1 of 2048 values of its map"):
        explain("test-nan", stabn_model, clips)


def test_a_run_goes_on_with_the_other_methods(broken_methods, stabn_model):
    result = explain_all(["saliency", *broken_methods, "random"], stabn_model, _clips(n=2, t=4))
    assert list(result.explanations) == ["saliency", "random"]
    assert set(result.failures) == set(broken_methods)
    assert result.failures["test-nan"].startswith("returned NaN")


def test_a_class_is_a_method_too(stabn_model):
    @register_method("test-class-method", models=("stabn",), cost="one-backward")
    class FrameEnergy:
        """Energy of each frame. Returns (N, T)."""

        def __init__(self, model):
            self.model = model

        def attribute(self, clips, targets, power: float = 2.0):
            return clips.abs().pow(power).sum(dim=(1, 3, 4))

    try:
        exp = explain("test-class-method", stabn_model, _clips(n=2, t=4), power=1.0)
        assert exp.options == {"power": 1.0}
        clips = _clips(n=2, t=4)
        torch.testing.assert_close(exp.temporal, clips.abs().sum(dim=(1, 3, 4)) * 16 * 16)
        assert "test-class-method" not in baselines.available_methods("baseline")
    finally:
        unregister_method("test-class-method")


def test_memory_budget_bounds_the_clips_per_pass(stabn_model):
    from stabn_bench.baselines.memory import SAFETY_FACTOR, activation_bytes_per_clip

    clips = _clips(n=4, t=4, h=16, w=16)
    per_clip = activation_bytes_per_clip(stabn_model, clips[:1])
    # stem output (6 x 4 x 8 x 8 floats) is among the outputs counted, the clip itself too
    assert per_clip > (6 * 4 * 8 * 8 + 3 * 4 * 16 * 16) * 4
    budget_mb = 2.5 * per_clip * SAFETY_FACTOR / 2**20  # room for two clips per pass
    bounded = explain("integrated-gradients", stabn_model, clips, batch_size=8, memory_budget_mb=budget_mb, n_steps=2)
    assert bounded.options["batch_size"] == 2
    unbounded = explain("integrated-gradients", stabn_model, clips, batch_size=8, n_steps=2)
    assert unbounded.options["batch_size"] == 8
    torch.testing.assert_close(bounded.spatiotemporal, unbounded.spatiotemporal)
    tiny = explain("saliency", stabn_model, clips, memory_budget_mb=1e-6)  # never below one clip per pass
    assert tiny.spatiotemporal.shape == (4, 4, 16, 16)


def test_minmax_per_clip_rescales_each_clip_and_keeps_flat_clips_at_one():
    from stabn_bench.baselines.attention import minmax_per_clip

    values = torch.tensor([[0.5, 0.6, 0.7], [0.2, 0.2, 0.2]])
    torch.testing.assert_close(minmax_per_clip(values), torch.tensor([[0.0, 0.5, 1.0], [1.0, 1.0, 1.0]]))
    maps = torch.rand(3, 4, 2, 2) * 0.1 + 0.45  # a sigmoid output near 0.5 with little spread
    scaled = minmax_per_clip(maps)
    assert torch.allclose(scaled.amin(dim=(1, 2, 3)), torch.zeros(3))
    assert torch.allclose(scaled.amax(dim=(1, 2, 3)), torch.ones(3))
    assert torch.equal(scaled.flatten(1).argsort(1), maps.flatten(1).argsort(1))  # order within a clip kept
