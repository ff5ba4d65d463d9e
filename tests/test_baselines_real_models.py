"""Every method on the real baseline / ABN / ST-ABN networks (tiny widths), and known answers that tie the
methods to the models' forward pass."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stabn_bench import baselines
from stabn_bench.benchmark.models import build_model

#: cheap settings for the many-forwards methods (the defaults are for real runs)
CHEAP = {"integrated-gradients": {"n_steps": 2}, "smoothgrad": {"nt_samples": 2},
         "occlusion": {"window": (4, 16, 16), "stride": (4, 16, 16)}, "feature-ablation": {"tube": (4, 16, 16)},
         "deeplift-shap": {"references": 2}, "gradient-shap": {"n_samples": 2, "references": 2}}


def builtin_methods(arch: str | None = None) -> list[str]:
    """The methods this project ships (not plug-ins a test registered), that apply to ``arch``."""
    return [s.name for s in baselines.method_specs(arch) if s.source.startswith("stabn_bench.baselines.")]


@pytest.fixture(scope="module")
def clips():
    return torch.randn(2, 3, 8, 32, 32, generator=torch.Generator().manual_seed(0))


def _calibrated(model: nn.Module) -> nn.Module:
    """Set every BN's running statistics from a few random clips (a freshly initialised network in eval mode has
    identity BNs; with the authors' conv init its activations then grow layer by layer and saturate M_s)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm3d):
            m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for seed in range(2):
            model(torch.randn(4, 3, 8, 32, 32, generator=torch.Generator().manual_seed(100 + seed)))
    return model.eval()


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {arch: _calibrated(build_model(arch, num_classes=5, depth=18, width=4, num_frames=8))
            for arch in ("baseline", "abn", "stabn")}


def test_every_builtin_method_applies_to_some_model():
    applicable = set().union(*(builtin_methods(arch) for arch in ("baseline", "abn", "stabn")))
    assert applicable == set(builtin_methods())
    assert {"deeplift", "deeplift-shap", "gradient-shap"} <= set(builtin_methods("baseline"))


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["baseline", "abn", "stabn"])
def test_every_builtin_method_explains_the_real_model(models, clips, arch, one_thread):
    """Every built-in method (DeepLift included: the models use no module twice and no in-place activation)
    gives a finite, non-constant (the `uniform` control: constant) (N, T, H, W) map and (N, T) importance on each of the three models."""
    model = models[arch]
    names = builtin_methods(arch)
    evidence = torch.zeros(2, 8, 32, 32)
    evidence[:, :, 8:16, 8:16] = 1
    truth = {"evidence": evidence, "action_window": torch.tensor([[0.0, 1, 1, 1, 0, 0, 0, 0]] * 2)}
    result = baselines.explain_all(names, model, clips, batch_size=4, options=CHEAP, ground_truth=truth)
    assert result.failures == {}
    assert sorted(result.explanations) == sorted(names)
    for name, exp in result.explanations.items():
        assert exp.spatiotemporal.shape == (2, 8, 32, 32), name
        assert exp.temporal.shape == (2, 8), name
        assert torch.isfinite(exp.spatiotemporal).all() and torch.isfinite(exp.temporal).all(), name
        flat = exp.spatiotemporal.reshape(2, -1)
        if name == "uniform":  # the control that is constant by design
            assert (flat == flat[:, :1]).all()
            continue
        assert (flat.amax(dim=1) > flat.amin(dim=1)).all(), f"{name}: a constant map"


def test_deeplift_satisfies_summation_to_delta_on_the_real_model(models, clips):
    """DeepLift's attributions sum to logit(clip) - logit(reference) on the plain ReLU network (ST-ABN's attention
    multiplies branches, where the Rescale rule is only approximate)."""
    from captum.attr import DeepLift

    from stabn_bench.baselines.forward import LogitsOnly

    model = models["baseline"]
    targets = torch.tensor([1, 3])
    wrapped = LogitsOnly(model)
    attribution, delta = DeepLift(wrapped).attribute(clips, baselines=torch.zeros_like(clips), target=targets,
                                                     return_convergence_delta=True)
    with torch.no_grad():
        gap = wrapped(clips).gather(1, targets[:, None])[:, 0] - wrapped(torch.zeros_like(clips)).gather(1, targets[:, None])[:, 0]
    torch.testing.assert_close(attribution.sum(dim=(1, 2, 3, 4)), gap, atol=1e-4, rtol=1e-3)
    assert delta.abs().max() < 1e-4
    exp = baselines.explain("deeplift", model, clips, targets, target_kind="label")
    torch.testing.assert_close(exp.spatiotemporal, attribution.detach().abs().sum(dim=1))


def _minmax(x, dims):
    low, high = x.amin(dim=dims, keepdim=True), x.amax(dim=dims, keepdim=True)
    return (x - low) / (high - low)


def test_stabn_attention_equals_ms_times_mt_of_the_real_model(models, clips):
    model = models["stabn"]
    with torch.no_grad():
        out = model(clips)
    ms, mt = out.spatial_attention, out.temporal_attention
    assert ms.shape[2:] == (2, 2)  # 32 / 16: the map is upsampled 16x
    ms_n, mt_n = _minmax(ms, (1, 2, 3)), _minmax(mt, 1)  # each normalised per clip
    expected = F.interpolate((ms_n * mt_n[:, :, None, None]).unsqueeze(1), size=(8, 32, 32), mode="trilinear",
                             align_corners=False).squeeze(1)
    exp = baselines.explain("stabn-attention", model, clips)
    torch.testing.assert_close(exp.spatiotemporal, expected)
    torch.testing.assert_close(exp.temporal, mt_n)


def _gradcam_by_hand(model, clips, targets, layer, head="perception"):
    """Grad-CAM from first principles on ``layer``: ReLU(sum_c mean_(t,h,w)(dy/dA_c) A_c), upsampled."""
    store = {}
    handle = layer.register_forward_hook(lambda m, i, o: store.update(act=o))
    try:
        out = model(clips)
    finally:
        handle.remove()
    logits = out.logits if head == "perception" else out.attention_logits
    act = store["act"]  # (N, C, T, h, w)
    (grad,) = torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), act)
    weights = grad.mean(dim=(2, 3, 4), keepdim=True)
    cam = F.relu((weights * act).sum(dim=1, keepdim=True)).detach()
    return F.interpolate(cam, size=clips.shape[2:], mode="trilinear", align_corners=False).squeeze(1), act.shape


def test_gradcam_is_the_gradient_weighted_last_stage_of_the_perception_branch(models, clips):
    model = models["stabn"]
    targets = torch.tensor([1, 3])
    expected, _ = _gradcam_by_hand(model, clips, targets, model.gradcam_layer)
    exp = baselines.explain("gradcam", model, clips, targets, target_kind="label")
    torch.testing.assert_close(exp.spatiotemporal, expected)


@pytest.mark.parametrize("layer,resolution", [("res5", 1), ("res4", 2), ("features", 2), ("fused", 2),
                                              ("attention-res5", 2)])
def test_gradcam_layer_option_weighs_the_named_layer(models, clips, layer, resolution):
    model = models["stabn"]
    targets = torch.tensor([0, 2])
    expected, shape = _gradcam_by_hand(model, clips, targets, model.cam_layer(layer))
    assert shape[2:] == (8, resolution, resolution)  # 32 px: H/32 for res5, H/16 for the others
    exp = baselines.explain("gradcam", model, clips, targets, target_kind="label", layer=layer)
    torch.testing.assert_close(exp.spatiotemporal, expected)
    guided = baselines.explain("guided-gradcam", model, clips, targets, target_kind="label", layer=layer)
    assert guided.spatiotemporal.shape == (2, 8, 32, 32) and guided.spatiotemporal.abs().sum() > 0


def test_gradcam_attention_is_gradcam_at_the_attention_branch_resolution(models, clips):
    targets = torch.tensor([4, 1])
    for arch in ("abn", "stabn"):
        model = models[arch]
        expected, shape = _gradcam_by_hand(model, clips, targets, model.attention_branch.class_maps.res5)
        assert shape[3:] == model(clips).spatial_attention.shape[2:]  # the resolution of M_s
        exp = baselines.explain("gradcam-attention", model, clips, targets, target_kind="label")
        torch.testing.assert_close(exp.spatiotemporal, expected)
        own, _ = _gradcam_by_hand(model, clips, targets, model.attention_branch.class_maps.res5, head="attention")
        exp = baselines.explain("gradcam-attention", model, clips, targets, target_kind="label", head="attention")
        torch.testing.assert_close(exp.spatiotemporal, own)


def test_gradcam_layer_that_the_model_lacks_lists_the_valid_ones(models, clips):
    with pytest.raises(baselines.MethodError, match="Grad-CAM layer 'fused' is not valid for model 'baseline'; "
                                                    "valid layers: res5, res4, features$"):
        baselines.explain("gradcam", models["baseline"], clips, layer="fused")
    with pytest.raises(baselines.MethodError, match="head='both'; valid: perception, attention"):
        baselines.explain("gradcam-attention", models["abn"], clips, head="both")


def test_stabn_spatial_inverse_is_one_minus_ms(models, clips):
    model = models["abn"]
    with torch.no_grad():
        ms = model(clips).spatial_attention
    exp = baselines.explain("stabn-spatial-inverse", model, clips)
    expected = F.interpolate((1 - ms).unsqueeze(1), size=(8, 32, 32), mode="trilinear", align_corners=False).squeeze(1)
    torch.testing.assert_close(exp.spatiotemporal, expected)


class _GuidedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        out = x.clamp(min=0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad.clamp(min=0) * (out > 0)


def test_guided_backprop_reaches_every_relu_of_the_real_model(models, clips, monkeypatch):
    """The models use nn.ReLU modules (some reused, in place); Captum's hooks must guide all of them."""
    model = models["stabn"]
    exp = baselines.explain("guided-backprop", model, clips)
    monkeypatch.setattr(nn.ReLU, "forward", lambda self, x: _GuidedReLU.apply(x))
    inputs = clips.clone().requires_grad_(True)
    logits = model(inputs).logits
    (grad,) = torch.autograd.grad(logits.gather(1, exp.targets[:, None]).sum(), inputs)
    torch.testing.assert_close(exp.spatiotemporal, grad.abs().sum(dim=1))
    monkeypatch.undo()
    plain = baselines.explain("saliency", model, clips)
    assert not torch.allclose(plain.spatiotemporal, exp.spatiotemporal)


def test_config_rejects_an_unknown_gradcam_layer():
    from stabn_bench.benchmark.config import load_config
    from stabn_bench.benchmark.config.loader import ConfigError

    assert load_config("smoke", ["explain.options.gradcam.layer=attention-res5"]).explain.options["gradcam"] == {
        "layer": "attention-res5"}
    with pytest.raises(ConfigError, match="'explain.options.guided-gradcam.layer' = 'res6'; valid layers: res5, res4, "
                                          "features, fused, attention-res5"):
        load_config("smoke", ["explain.options.guided-gradcam.layer=res6"])
    with pytest.raises(ConfigError, match="'model.block_temporal'"):
        load_config("smoke", ["model.block_temporal=slow"])
