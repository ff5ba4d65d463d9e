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
         "occlusion": {"window": (4, 16, 16), "stride": (4, 16, 16)}, "feature-ablation": {"tube": (4, 16, 16)}}


@pytest.fixture(scope="module")
def clips():
    return torch.randn(2, 3, 8, 32, 32, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {arch: build_model(arch, num_classes=5, depth=18, width=4, num_frames=8).eval()
            for arch in ("baseline", "abn", "stabn")}


@pytest.mark.parametrize("arch", ["baseline", "abn", "stabn"])
def test_every_applicable_method_explains_the_real_model(models, clips, arch):
    model = models[arch]
    names = baselines.available_methods(arch)
    assert len(names) == {"baseline": 14, "abn": 15, "stabn": 17}[arch]  # the oracle controls included
    evidence = torch.zeros(2, 8, 32, 32)
    evidence[:, :, 8:16, 8:16] = 1
    truth = {"evidence": evidence, "action_window": torch.tensor([[0.0, 1, 1, 1, 0, 0, 0, 0]] * 2)}
    result = baselines.explain_all(names, model, clips, batch_size=4, options=CHEAP, ground_truth=truth)
    assert result.failures == {}
    for name, exp in result.explanations.items():
        assert exp.spatiotemporal.shape == (2, 8, 32, 32), name
        assert exp.temporal.shape == (2, 8), name
        assert torch.isfinite(exp.spatiotemporal).all() and torch.isfinite(exp.temporal).all(), name
        assert exp.spatiotemporal.abs().sum() > 0, name


def test_stabn_attention_equals_ms_times_mt_of_the_real_model(models, clips):
    model = models["stabn"]
    with torch.no_grad():
        out = model(clips)
    ms, mt = out.spatial_attention, out.temporal_attention
    assert ms.shape[2:] == (2, 2)  # 32 / 16: the map is upsampled 16x
    expected = F.interpolate((ms * mt[:, :, None, None]).unsqueeze(1), size=(8, 32, 32), mode="trilinear",
                             align_corners=False).squeeze(1)
    exp = baselines.explain("stabn-attention", model, clips)
    torch.testing.assert_close(exp.spatiotemporal, expected)
    torch.testing.assert_close(exp.temporal, mt)


def test_gradcam_is_the_gradient_weighted_last_stage_of_the_perception_branch(models, clips):
    model = models["stabn"]
    targets = torch.tensor([1, 3])
    store = {}
    handle = model.gradcam_layer.register_forward_hook(lambda m, i, o: store.update(act=o))
    try:
        logits = model(clips).logits
    finally:
        handle.remove()
    act = store["act"]  # (N, C, T, h, w)
    (grad,) = torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), act)
    weights = grad.mean(dim=(2, 3, 4), keepdim=True)
    cam = F.relu((weights * act).sum(dim=1, keepdim=True)).detach()
    expected = F.interpolate(cam, size=(8, 32, 32), mode="trilinear", align_corners=False).squeeze(1)
    exp = baselines.explain("gradcam", model, clips, targets, target_kind="label")
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
