"""The default run's setting (configs/synthetic.yaml): maps large enough to judge, three seeds, a smoke preset of one."""
import torch

from stabn_bench.benchmark.config import load_config
from stabn_bench.benchmark.models import build_model


def test_default_attention_and_gradcam_layer_are_large_enough_to_judge(one_thread):
    cfg = load_config("synthetic")
    model = build_model("stabn", num_classes=8, depth=cfg.model.depth, width=cfg.model.width,
                        num_frames=cfg.data.num_frames).eval()
    res5 = {}
    model.perception_branch.res5.register_forward_hook(lambda m, i, o: res5.update(shape=tuple(o.shape)))
    with torch.no_grad():
        out = model(torch.zeros(1, 3, cfg.data.num_frames, cfg.data.crop, cfg.data.crop))
    h, w = out.spatial_attention.shape[-2:]
    assert h >= 7 and w >= 7, f"attention {h}x{w}"
    # the perception branch's res5: Grad-CAM's default layer
    assert res5["shape"][-2] >= 4 and res5["shape"][-1] >= 4, res5
    # the target disc's nominal diameter spans at least 2 attention cells at the clip's resolution
    synthetic = cfg.data.synthetic
    cell = cfg.data.crop / w * synthetic.width / cfg.data.resize
    assert synthetic.target_size >= 2 * cell, (synthetic.target_size, cell)
    assert cfg.train_seeds() == [0, 1, 2]


def test_smoke_preset_trains_one_seed():
    assert load_config("smoke").train_seeds() == [0]
