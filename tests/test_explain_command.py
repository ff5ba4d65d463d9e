"""``stabn-bench explain``, ``stabn-bench methods`` and ``stabn-bench perf explain`` end to end on tiny data."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from stabn_bench.benchmark.cli import main
from stabn_bench.benchmark.config import load_config, to_dict
from stabn_bench.benchmark.data import build_dataset
from stabn_bench.benchmark.models import build_model
from stabn_bench.benchmark.training.checkpoint import model_meta, save_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    cfg = load_config("smoke", [f"data.root={root / 'data'}", "device=cpu"])
    dataset = build_dataset(cfg.data, "test", progress=False)
    torch.manual_seed(0)
    model = build_model("stabn", dataset.num_classes, depth=18, width=4, num_frames=cfg.data.num_frames)
    meta = model_meta(model, 0.5, dataset.classes)
    meta["config"] = to_dict(cfg)
    path = save_checkpoint(root / "stabn.pt", model, meta)
    return path, dataset.clip_ids[0], cfg.data.num_frames


def test_explain_writes_a_frame_strip_and_an_animation(checkpoint, tmp_path, capsys):
    path, clip_id, num_frames = checkpoint
    out = tmp_path / "strip.png"
    assert main(["explain", str(path), "--method", "stabn-attention", "--clip", clip_id, "--out", str(out),
                 "--no-progress"]) == 0
    assert "stabn-attention on clip" in capsys.readouterr().out
    strip = Image.open(out)
    assert strip.format == "PNG" and strip.size[0] > strip.size[1] > 100
    gif = Image.open(out.with_suffix(".gif"))
    assert gif.format == "GIF" and gif.n_frames == num_frames
    # the animation moves: the highlighted bar changes from frame to frame
    first, last = np.asarray(gif.convert("RGB")), None
    gif.seek(num_frames - 1)
    last = np.asarray(gif.convert("RGB"))
    assert not np.array_equal(first, last)


def test_explain_pdf_and_mp4_with_the_true_label(checkpoint, tmp_path, capsys):
    path, clip_id, _ = checkpoint
    out, video = tmp_path / "strip.pdf", tmp_path / "overlay.mp4"
    assert main(["explain", str(path), "--method", "saliency", "--clip", clip_id, "--out", str(out),
                 "--gif", str(video), "--target", "label", "--no-progress"]) == 0
    assert "label" in capsys.readouterr().out
    assert out.read_bytes().startswith(b"%PDF") and video.stat().st_size > 1000


def test_explain_bad_input_is_one_line(checkpoint, tmp_path, capsys):
    path, clip_id, _ = checkpoint
    out = str(tmp_path / "x.png")
    assert main(["explain", str(path), "--method", "gradcan", "--clip", clip_id, "--out", out]) == 1
    assert "did you mean 'gradcam'" in capsys.readouterr().err
    assert main(["explain", str(path), "--method", "gradcam", "--clip", "no-such-clip", "--out", out,
                 "--no-progress"]) == 1
    assert "clip 'no-such-clip' is not in the test split" in capsys.readouterr().err
    assert main(["explain", str(path), "--method", "gradcam", "--clip", clip_id, "--out", str(tmp_path / "x.jpg")]) == 1
    assert "must end in .png or .pdf" in capsys.readouterr().err


def test_methods_lists_names_kinds_models_and_costs(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:] if line.strip() and "methods" not in line}
    assert rows["stabn-attention"][1:4] == ["attention", "stabn", "free"]
    assert rows["occlusion"][1:4] == ["perturbation", "all", "many-forwards"]
    assert rows["gradcam"][1:4] == ["cam", "all", "one-backward"]
    assert rows["deeplift"][1:4] == ["gradient", "all", "one-backward"]
    assert main(["methods", "--model", "baseline"]) == 0
    assert "stabn-attention" not in capsys.readouterr().out
    assert main(["methods", "--model", "stabm"]) == 1
    assert "did you mean 'stabn'" in capsys.readouterr().err


def test_perf_explain_prints_a_ratio_per_method(capsys):
    assert main(["perf", "explain", "--preset", "smoke", "--methods", "stabn-attention", "saliency", "random",
                 "--repeats", "1", "--min-seconds", "0", "device=cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in lines if line.split() and line.split()[0] in
            ("stabn-attention", "saliency", "random")}
    assert set(rows) == {"stabn-attention", "saliency", "random"}
    for cells in rows.values():
        assert float(cells[-1]) >= 0 and float(cells[2]) > 0
