"""``stabn-bench perf train``: what ST-ABN costs relative to the plain backbone, in FLOPs and in measured time.

By the specification ST-ABN costs about 1.85x the baseline's FLOPs at depth 50 (its attention branch runs a
second res5 at stride 1). The implementation adds no cost of its own when the measured time ratios (training
step, inference) stay within 1.1x the FLOP ratio; FLOPs and times are measured in one run on the same input.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable, cast

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

#: the goal: time ratio / FLOP ratio at most this
OVERHEAD_LIMIT = 1.1
COMPARED = ("baseline", "stabn")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="FLOP and time ratios of ST-ABN to the baseline (training step and inference)",
        description="Count forward FLOPs (torch.utils.flop_counter) of baseline and stabn and time their training "
                    "step and inference on the same input; print the ratios. Defaults: depth 50, 8 frames, "
                    "174 classes; width 64 at 224x224 (batch 8) on CUDA, width 16 at 112x112 (batch 2) on CPU.",
    )
    parser.add_argument("--depth", type=int, default=50, choices=[18, 34, 50, 101])
    parser.add_argument("--width", type=int, default=None, help="base width (default: 64 on CUDA, 16 on CPU)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=None, help="input height = width (default: 224 on CUDA, 112 on CPU)")
    parser.add_argument("--classes", type=int, default=174)
    parser.add_argument("--batch", type=int, default=None, help="clips per step (default: 8 on CUDA, 2 on CPU)")
    parser.add_argument("--repeats", type=int, default=None, help="timed steps per model (default: 20 CUDA, 5 CPU)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads (default: torch's choice; 1 on a machine shared with other jobs)")
    parser.add_argument("--no-amp", dest="amp", action="store_false", help="no bf16 autocast on CUDA")
    parser.add_argument("--no-compare-layout", dest="compare_layout", action="store_false",
                        help="skip timing the contiguous memory layout against channels-last")
    parser.set_defaults(func=run)


def forward_flops(name: str, depth: int, width: int, classes: int, frames: int, size: int) -> int:
    """Forward FLOPs of one clip (N=1), counted on the meta device (no memory, no compute)."""
    from ..models import build_model

    with torch.device("meta"):
        model = build_model(name, classes, depth=depth, width=width, num_frames=frames).eval()
        clip = torch.empty(1, 3, frames, size, size)
    with FlopCounterMode(display=False) as counter:
        model(clip)
    return counter.get_total_flops()


def _timer(device: torch.device) -> Callable[[Callable[[], None]], float]:
    def timed(fn: Callable[[], None]) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start
    return timed


def measure_times(depth: int, width: int, classes: int, frames: int, size: int, batch: int, repeats: int,
                  device: torch.device, amp: bool, channels_last: bool = True) -> dict[str, dict[str, float]]:
    """Median seconds per training step and per inference forward of each compared model.

    The models' steps are interleaved (baseline, stabn, baseline, ...) so that a slow phase of a shared machine
    hits both alike."""
    from stabn_bench.metrics.engine import channels_last_model

    from ..models import build_model
    from ..runtime import autocast

    torch.manual_seed(0)
    clips = torch.randn(batch, 3, frames, size, size, device=device)
    if channels_last and device.type == "cuda":  # as the training loop does (on a CPU the weights suffice)
        clips = clips.contiguous(memory_format=torch.channels_last_3d)
    labels = torch.randint(0, classes, (batch,), device=device)
    models, optims = {}, {}
    for name in COMPARED:
        model = build_model(name, classes, depth=depth, width=width, num_frames=frames).to(device)
        if channels_last:
            channels_last_model(model)
        models[name] = model
        optims[name] = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=True, weight_decay=5e-4)

    def train_step(name: str) -> None:
        model, optim = models[name], optims[name]
        model.train()
        with autocast(device, amp):
            out = model(clips)
        loss = cast(torch.Tensor, sum(F.cross_entropy(logits.float(), labels) for logits in out.heads().values()))
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 20.0)
        optim.step()

    def infer(name: str) -> None:
        model = models[name]
        model.eval()
        with torch.inference_mode(), autocast(device, amp):
            model(clips)

    timed = _timer(device)
    times: dict[str, dict[str, list[float]]] = {n: {"train": [], "infer": []} for n in COMPARED}
    for kind, fn in (("train", train_step), ("infer", infer)):
        for name in COMPARED:  # warm-up: allocator, kernels, cudnn algorithm choice
            for _ in range(2):
                fn(name)
        for _ in range(repeats):
            for name in COMPARED:
                times[name][kind].append(timed(lambda: fn(name)))
    return {n: {k: statistics.median(v) for k, v in kinds.items()} for n, kinds in times.items()}


def run(args: argparse.Namespace) -> int:
    """Measure with ``--threads`` CPU threads, then give the process its thread count back."""
    threads = torch.get_num_threads()
    try:
        if args.threads:
            torch.set_num_threads(args.threads)
        return _measure(args)
    finally:
        torch.set_num_threads(threads)


def _measure(args: argparse.Namespace) -> int:
    from ..runtime import select_device

    device = select_device(args.device)
    cuda = device.type == "cuda"
    width = args.width or (64 if cuda else 16)
    size = args.size or (224 if cuda else 112)
    batch = args.batch or (8 if cuda else 2)
    repeats = args.repeats or (20 if cuda else 5)
    if cuda:
        torch.backends.cudnn.benchmark = True

    setting = f"depth {args.depth}, width {width}, {args.frames}x{size}x{size}, {args.classes} classes"
    flops = {n: forward_flops(n, args.depth, width, args.classes, args.frames, size) for n in COMPARED}
    flop_ratio = flops["stabn"] / flops["baseline"]
    print(f"device: {device} ({torch.cuda.get_device_name(device) if cuda else f'{torch.get_num_threads()} threads'})")
    print(f"setting: {setting}; batch {batch}; {repeats} timed steps per model; "
          f"amp {'bf16' if cuda and args.amp else 'off'}")
    if (width, size) != (64, 224):
        paper = {n: forward_flops(n, args.depth, 64, args.classes, args.frames, 224) for n in COMPARED}
        print(f"reference (width 64, {args.frames}x224x224): baseline {paper['baseline'] / 1e9:.1f} GFLOPs, "
              f"stabn {paper['stabn'] / 1e9:.1f} GFLOPs, flop_ratio = {paper['stabn'] / paper['baseline']:.3f}")
    print(f"forward FLOPs per clip: baseline {flops['baseline'] / 1e9:.3f} G, stabn {flops['stabn'] / 1e9:.3f} G")
    print(f"flop_ratio = {flop_ratio:.3f}")

    times = measure_times(args.depth, width, args.classes, args.frames, size, batch, repeats, device, args.amp)
    train_ratio = times["stabn"]["train"] / times["baseline"]["train"]
    infer_ratio = times["stabn"]["infer"] / times["baseline"]["infer"]
    for name in COMPARED:
        print(f"{name}: train step {times[name]['train'] * 1e3:.1f} ms, inference {times[name]['infer'] * 1e3:.1f} ms "
              f"(median, batch {batch})")
    print(f"train_time_ratio = {train_ratio:.3f}")
    print(f"infer_time_ratio = {infer_ratio:.3f}")
    print(f"train_time_ratio/flop_ratio = {train_ratio / flop_ratio:.3f}")
    print(f"infer_time_ratio/flop_ratio = {infer_ratio / flop_ratio:.3f}")
    ok = max(train_ratio, infer_ratio) / flop_ratio <= OVERHEAD_LIMIT
    print(f"goal (each <= {OVERHEAD_LIMIT}): {'met' if ok else 'NOT met'}")
    if args.compare_layout:
        contiguous = measure_times(args.depth, width, args.classes, args.frames, size, batch, repeats, device,
                                   args.amp, channels_last=False)
        print("\nchannels-last 3-D convolution weights (the training loop's default, train.channels_last) against "
              "the contiguous layout, same input, measured in this run:")
        for name in COMPARED:
            print(f"{name}: contiguous train step {contiguous[name]['train'] * 1e3:.1f} ms, inference "
                  f"{contiguous[name]['infer'] * 1e3:.1f} ms; channels_last_speedup train = "
                  f"{contiguous[name]['train'] / times[name]['train']:.2f}, infer = "
                  f"{contiguous[name]['infer'] / times[name]['infer']:.2f}")
    return 0
