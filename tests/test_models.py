"""The slow-only 3D ResNet, ABN and ST-ABN: shapes, parameter counts from the specification and from the authors'
code, the authors' initialisation, inflation."""
import pytest
import torch
import torchvision

from stabn_bench.benchmark.errors import CheckpointError
from stabn_bench.benchmark.models import MODELS, VideoModelOutput, build_model, count_parameters
from stabn_bench.benchmark.models.inflate import inflate_into


pytestmark = pytest.mark.usefixtures("one_thread")


# --- the parameter count that docs/design.md section 2 implies, summed layer by layer (convs before a BN have no bias) ---

def conv(cin, cout, kernel_volume):
    return cin * cout * kernel_volume


def bn(channels):
    return 2 * channels


def linear(fin, fout):
    return fin * fout + fout


def bottleneck_stage(cin, planes, blocks, kt):
    total = 0
    for i in range(blocks):
        c = cin if i == 0 else 4 * planes
        total += conv(c, planes, kt) + bn(planes) + conv(planes, planes, 9) + bn(planes) + conv(planes, 4 * planes, 1) + bn(4 * planes)
        if i == 0:  # projection shortcut (channels change in every stage's first block)
            total += conv(c, 4 * planes, 1) + bn(4 * planes)
    return total


def expected_resnet50_counts(k, t):
    stem = conv(3, 64, 49) + bn(64)
    res2 = bottleneck_stage(64, 64, 3, 1)
    res3 = bottleneck_stage(256, 128, 4, 1)
    res4 = bottleneck_stage(512, 256, 6, 3)     # 3x1x1 first conv
    res5 = bottleneck_stage(1024, 512, 3, 3)
    baseline = stem + res2 + res3 + res4 + res5 + linear(2048, k)
    class_maps = res5 + bn(2048) + conv(2048, k, 1) + bn(k)
    abn = baseline + class_maps + conv(k, k, 1) + conv(k, 1, 27) + bn(1)
    stabn = (baseline + class_maps
             + conv(k, k, 1) + linear(k * t, k)                      # K->K conv, flatten K·T, linear K·T->K
             + conv(k, 1, 1) + bn(1)                                 # M_s
             + conv(k, 1, 27) + bn(1) + conv(t, t, 1) + 2 * linear(t, t)  # M_t: 3x3x3 conv, 1x1 conv T->T (no bias), 2 FCs
             + conv(2048, 1024, 1) + bn(1024))                       # fusion 2C->C
    return {"baseline": baseline, "abn": abn, "stabn": stabn}


def test_paper_scale_shapes_and_parameter_counts():
    k, t = 174, 32
    expected = expected_resnet50_counts(k, t)
    # cross-check: the 2D ResNet-50 plus the two extra temporal taps of every res4/res5 first conv
    r50 = torchvision.models.resnet50(num_classes=k)
    taps = sum(2 * block.conv1.weight.numel() for block in [*r50.layer3, *r50.layer4])
    assert expected["baseline"] == count_parameters(r50) + taps
    for name in MODELS:
        with torch.device("meta"):  # shapes and counts without memory or compute
            model = build_model(name, k, depth=50, width=64, num_frames=t)
            out = model(torch.empty(1, 3, t, 224, 224))
        assert count_parameters(model) == expected[name], name
        assert isinstance(out, VideoModelOutput)
        assert out.logits.shape == (1, k)
        if name == "baseline":
            assert out.attention_logits is None and out.spatial_attention is None and out.temporal_attention is None
        else:
            assert out.attention_logits.shape == (1, k)
            assert out.spatial_attention.shape == (1, t, 14, 14)
        if name == "stabn":
            assert out.temporal_attention.shape == (1, t)


#: ST-ABN parameter counts at K = 174, T = 32, width 64, as counted on the authors' ``resnet_abn_v1``
#: (``abn_resnet{18,34,50}(num_classes=174, sample_duration=32)``); our stabn was also checked to give the same
#: outputs as theirs with the same weights (max-abs difference 0 on the perception logits, M_s and M_t).
AUTHORS_STABN_PARAMETERS = {18: 59_374_856, 34: 103_842_312, 50: 55_665_928}


@pytest.mark.parametrize("depth", [18, 34, 50])
def test_stabn_parameter_count_equals_the_authors_code(depth):
    with torch.device("meta"):
        model = build_model("stabn", 174, depth=depth, width=64, num_frames=32)
        slow = build_model("stabn", 174, depth=depth, width=64, num_frames=32, block_temporal="slow-only")
    assert count_parameters(model) == AUTHORS_STABN_PARAMETERS[depth]
    if depth == 50:  # bottlenecks are the same in both variants
        assert count_parameters(slow) == count_parameters(model)
    else:  # slow-only basic blocks drop the temporal taps of res2/res3 and of every second conv
        assert count_parameters(slow) < count_parameters(model)


def test_authors_initialisation():
    """Conv3d normal(0, sqrt(2/n)), n = k[0]·k[1]·out; BN 1/0; Linear and the T->T Conv2d PyTorch's default."""
    torch.manual_seed(0)
    model = build_model("stabn", 10, depth=18, width=16, num_frames=8)
    checked = 0
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Conv3d) and m.weight.numel() >= 4000:
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            assert abs(m.weight.std().item() / (2 / n) ** 0.5 - 1) < 0.1, name
            assert abs(m.weight.mean().item()) < 0.1 * (2 / n) ** 0.5, name
            checked += 1
        elif isinstance(m, torch.nn.BatchNorm3d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0), name
        elif isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):  # kaiming_uniform(a=sqrt(5)): U(-1/sqrt(fan_in), ..)
            bound = 1 / m.weight[0].numel() ** 0.5
            assert m.weight.abs().max() <= bound and m.weight.std() > 0.4 * bound, name
    assert checked > 10
    # the stem conv is 1x7x7: n = 1·7·16, not 7·7·16
    assert abs(model.stem.conv.weight.std().item() / (2 / (7 * 16)) ** 0.5 - 1) < 0.1


def test_temporal_attention_depends_on_the_clip_at_initialisation():
    """With the authors' init M_t differs between clips (it was one fixed profile with N(0, 0.01) linears)."""
    torch.manual_seed(0)
    model = build_model("stabn", 10, depth=18, width=8, num_frames=8).eval()
    with torch.no_grad():
        m_t = model(torch.randn(16, 3, 8, 32, 32)).temporal_attention       # (N, T)
    across_clips = m_t.std(dim=0).mean()
    across_frames = m_t.std(dim=1).mean()
    assert across_clips > 0.2 * across_frames, (across_clips, across_frames)


@pytest.mark.parametrize("depth", [18, 34, 50])
def test_tiny_models_keep_every_frame_and_return_attention_in_unit_range(depth):
    torch.manual_seed(0)
    clips = torch.randn(2, 3, 6, 32, 32)
    for name in MODELS:
        model = build_model(name, num_classes=5, depth=depth, width=4, num_frames=6).eval()
        features = {}
        model.gradcam_layer.register_forward_hook(lambda m, i, o: features.setdefault("res5", o))
        out = model(clips)
        assert model.arch == name
        assert out.logits.shape == (2, 5)
        assert features["res5"].shape[2] == 6 and features["res5"].shape[3:] == (1, 1)  # T kept, 32/32 spatially
        if name != "baseline":
            assert out.spatial_attention.shape == (2, 6, 2, 2)
            assert 0 <= out.spatial_attention.min() and out.spatial_attention.max() <= 1
        if name == "stabn":
            assert out.temporal_attention.shape == (2, 6)
            assert 0 <= out.temporal_attention.min() and out.temporal_attention.max() <= 1
            assert set(out.heads()) == {"perception", "attention"}


def test_attention_convs_follow_the_specification():
    abn = build_model("abn", 7, depth=18, width=4)
    stabn = build_model("stabn", 7, depth=18, width=4, num_frames=5)
    assert stabn.attention_branch.temporal.frame_conv.bias is None  # the authors' T->T conv has no bias
    assert abn.attention_branch.spatial_conv.kernel_size == (3, 3, 3)
    assert stabn.attention_branch.spatial_conv.kernel_size == (1, 1, 1)
    assert stabn.attention_branch.logit_fc.in_features == 7 * 5
    assert stabn.fusion.conv.in_channels == 2 * stabn.fusion.conv.out_channels == 2 * 16  # C = 4 x width at depth 18
    # res5 of the attention branch keeps the feature resolution; the perception res5 halves it
    assert stabn.attention_branch.class_maps.res5[0].conv1.stride == (1, 1, 1)
    assert stabn.perception_branch.res5[0].conv1.stride == (1, 2, 2)
    # no temporal stride anywhere; reference basic blocks are 3x3x3 in both convs of every stage
    block_convs = 0
    for name, module in stabn.named_modules():
        if isinstance(module, torch.nn.Conv3d):
            assert module.stride[0] == 1, name
            if name.startswith("stem"):
                assert module.kernel_size == (1, 7, 7), name
            elif name.rsplit(".", 1)[-1] in ("conv1", "conv2"):
                assert module.kernel_size == (3, 3, 3), name
                block_convs += 1
    assert block_convs == 2 * (8 + 2)  # two convs in each of 8 backbone blocks and the 2 attention-res5 blocks
    # the slow-only option: temporal kernels only in the first conv of res4/res5 blocks
    slow = build_model("stabn", 7, depth=18, width=4, num_frames=5, block_temporal="slow-only")
    for name, module in slow.named_modules():
        if isinstance(module, torch.nn.Conv3d) and name.rsplit(".", 1)[-1] in ("conv1", "conv2"):
            temporal = name.rsplit(".", 1)[-1] == "conv1" and not name.startswith(("res2", "res3"))
            assert module.kernel_size[0] == (3 if temporal else 1), name
    # bottlenecks: 3x1x1 first conv in res4/res5 only
    deep = build_model("stabn", 7, depth=50, width=4, num_frames=5)
    for name, module in deep.named_modules():
        if isinstance(module, torch.nn.Conv3d) and name.endswith("conv1") and "downsample" not in name:
            assert module.kernel_size == ((1, 1, 1) if name.startswith(("res2", "res3")) else (3, 1, 1)), name


def test_stabn_shapes_its_temporal_layers_from_the_first_clip_when_no_length_is_given():
    model = build_model("stabn", 3, depth=18, width=4).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 7, 32, 32))
    assert out.temporal_attention.shape == (1, 7)
    out = model(torch.randn(2, 3, 7, 32, 32))  # parameters built under no_grad still train
    out.logits.sum().backward()
    assert model.attention_branch.temporal.fc2.weight.grad is not None
    with pytest.raises(ValueError, match="7 frames, got 5"):
        model(torch.randn(1, 3, 5, 32, 32))


def test_stabn_uses_time_order():
    torch.manual_seed(0)
    model = build_model("stabn", 4, depth=18, width=4, num_frames=8).eval()
    clips = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        a, b = model(clips), model(clips.flip(2))
    assert not torch.allclose(a.logits, b.logits, atol=1e-5)
    assert not torch.allclose(a.temporal_attention, b.temporal_attention.flip(1), atol=1e-6)


def test_bad_model_arguments_are_named():
    with pytest.raises(ValueError, match="unknown model 'stabm'"):
        build_model("stabm", 4)
    with pytest.raises(ValueError, match="valid depths: 18, 34, 50, 101"):
        build_model("baseline", 4, depth=20)
    with pytest.raises(ValueError, match="block_temporal 'slow' is not valid; valid values: reference, slow-only"):
        build_model("abn", 4, block_temporal="slow")


def _randomise_batch_norm(net):
    torch.manual_seed(1)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)


@pytest.mark.parametrize("depth,builder,block_temporal,reach", [
    (18, torchvision.models.resnet18, "reference", 16),  # every basic-block conv is temporal: 2 per block, 8 blocks
    (18, torchvision.models.resnet18, "slow-only", 4),   # one temporal conv per res4/res5 block
    (50, torchvision.models.resnet50, "reference", 9),   # one per res4/res5 bottleneck
])
def test_inflated_network_matches_2d_network_on_a_static_clip(tmp_path, depth, builder, block_temporal, reach):
    torch.manual_seed(0)
    net2d = builder().eval()
    _randomise_batch_norm(net2d)
    path = tmp_path / "resnet2d.pth"
    torch.save(net2d.state_dict(), path)
    # zero temporal padding reaches one frame further in per temporal conv
    frames = 2 * reach + 2
    model = build_model("stabn", 10, depth=depth, width=64, num_frames=frames, inflate_from=str(path),
                        block_temporal=block_temporal).eval()

    image = torch.randn(1, 3, 32, 32)
    clip = image[:, :, None].repeat(1, 1, frames, 1, 1)  # (1, 3, T, H, W), every frame the same image
    with torch.no_grad():
        x2d = net2d.maxpool(net2d.relu(net2d.bn1(net2d.conv1(image))))
        x3d = model.stem(clip)
        stages = [("res2", net2d.layer1), ("res3", net2d.layer2), ("res4", net2d.layer3),
                  ("perception_branch.res5", net2d.layer4)]
        for name, layer2d in stages:
            x2d = layer2d(x2d)
            x3d = model.get_submodule(name)(x3d)
            mid = x3d[:, :, reach:frames - reach]
            torch.testing.assert_close(mid, x2d[:, :, None].expand_as(mid), rtol=1e-3, atol=1e-3)
        edge = x3d[:, :, 0]  # the first frame sees zero padding: it must differ (the test can fail)
        assert not torch.allclose(edge, x2d, rtol=1e-3, atol=1e-3)
        # copied along t and divided by kt: the taps sum to the 2D kernel
        torch.testing.assert_close(model.attention_branch.class_maps.res5[0].conv2.weight.sum(dim=2),
                                   net2d.layer4[0].conv2.weight)


def test_inflation_from_a_file_of_another_width_names_the_layer(tmp_path):
    path = tmp_path / "r18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    model = build_model("baseline", 3, depth=18, width=16)
    with pytest.raises(CheckpointError, match=r"'conv1.weight' has shape \(64, 3, 7, 7\)"):
        inflate_into(model, path)
    with pytest.raises(CheckpointError, match="does not exist"):
        build_model("baseline", 3, inflate_from=str(tmp_path / "missing.pth"))


def test_fusion_is_conv_and_batch_norm_without_relu():
    """The authors' ``conv_att_mechanism``: F' = BN(conv(concat[F_s, F_t])), no ReLU, conv randomly initialised."""
    from stabn_bench.benchmark.models.attention import AttentionMaps

    torch.manual_seed(0)
    model = build_model("stabn", 3, depth=18, width=16, num_frames=4).eval()
    fusion = model.fusion
    assert not any(isinstance(m, torch.nn.ReLU) for m in fusion.modules())
    weight = fusion.conv.weight                                              # (C, 2C, 1, 1, 1), C = 64
    assert abs(weight.std().item() / (2 / 64) ** 0.5 - 1) < 0.1              # normal(0, sqrt(2/C)), not identities
    features = torch.rand(2, 64, 4, 3, 3)
    maps = AttentionMaps(logits=torch.zeros(2, 3), spatial=torch.rand(2, 1, 4, 3, 3), temporal=torch.rand(2, 4))
    with torch.no_grad():
        fused = fusion(features, maps)
        paths = [features * (1 + maps.spatial), features * maps.temporal[:, None, :, None, None]]
        mixed = fusion.conv(torch.cat(paths, dim=1))
    assert fused.shape == features.shape
    torch.testing.assert_close(fused, fusion.bn(mixed))
    assert (fused < 0).float().mean() > 0.2  # F' can be negative


@pytest.mark.parametrize("arch", ["baseline", "abn", "stabn"])
@pytest.mark.parametrize("depth", [18, 50])
def test_no_module_runs_twice_and_nothing_is_in_place(arch, depth):
    """Hook-based attribution (DeepLift, guided backprop) needs one module per use and no in-place activations."""
    from torch import nn

    model = build_model(arch, num_classes=3, depth=depth, width=4, num_frames=4).eval()
    calls: dict[str, int] = {}
    for name, module in model.named_modules():
        assert not getattr(module, "inplace", False), f"{name} is in-place"
        if not list(module.children()):
            module.register_forward_hook(lambda m, i, o, name=name: calls.__setitem__(name, calls.get(name, 0) + 1))
    model(torch.randn(1, 3, 4, 32, 32))
    assert calls and max(calls.values()) == 1, {k: v for k, v in calls.items() if v > 1}
    assert any(isinstance(m, nn.ReLU) for m in model.modules())


@pytest.mark.parametrize("arch", ["baseline", "abn", "stabn"])
def test_captum_deeplift_accepts_every_model(arch):
    from captum.attr import DeepLift

    from stabn_bench.baselines.forward import LogitsOnly

    torch.manual_seed(0)
    model = build_model(arch, num_classes=3, depth=18, width=4, num_frames=4).eval()
    clips = torch.randn(2, 3, 4, 32, 32)
    attribution = DeepLift(LogitsOnly(model)).attribute(clips, target=torch.tensor([0, 2]))
    assert attribution.shape == clips.shape and torch.isfinite(attribution).all()
    assert attribution.abs().sum() > 0


def test_a_model_name_is_registered_once():
    from stabn_bench.benchmark.models import MODELS, register_model

    before = [(e.name, e.obj) for e in MODELS.entries()]
    with pytest.raises(ValueError, match="model 'stabn' is already registered by stabn_bench.benchmark.models.networks.stabn"):
        register_model("stabn")(lambda **kwargs: None)
    assert [(e.name, e.obj) for e in MODELS.entries()] == before
    assert [(d["name"], d["description"]) for d in MODELS.describe()] == [
        ("baseline", "The backbone alone: res5 on F directly, no attention branch."),
        ("abn", "ABN-style spatial attention only (ablation): F' = F·(1 + M_s)."),
        ("stabn", "ST-ABN: spatial and temporal attention, fused by a 2C->C conv. ``num_frames`` fixes T for the K·T head."),
    ]
