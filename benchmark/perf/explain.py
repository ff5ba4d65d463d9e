"""``stabn-bench perf explain``: time per clip of every explanation method relative to one forward pass of the
same model on the same clips, measured in one run (random weights: the cost does not depend on training).
"""
from __future__ import annotations

import argparse
import statistics
import time

EPILOG = """\
examples:
  stabn-bench perf explain                                  # the default preset's model and clip size
  stabn-bench perf explain --model baseline --clips 4
  stabn-bench perf explain --methods saliency gradcam occlusion --preset smoke
  stabn-bench perf explain model.depth=50 model.width=64 data.num_frames=32 data.crop=224 --clips 1

Everything runs in float32 in eval mode; the forward pass is timed under torch.no_grad(). Per-method options
(explain.options) and the batch bound (explain.batch_size) come from the config.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..commands.common import add_config_arguments

    parser = subparsers.add_parser(
        "explain", help="time per clip of every explanation method / one forward pass",
        description="Time every explanation method relative to one forward pass of the same model.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default="stabn", help="model to explain: baseline, abn or stabn (default: stabn)")
    parser.add_argument("--clips", type=int, default=2, help="clips per batch (default: 2)")
    parser.add_argument("--classes", type=int, default=10, help="number of classes of the model (default: 10)")
    parser.add_argument("--methods", nargs="+", default=["all"], help="methods to time (default: all that apply)")
    parser.add_argument("--methods-module", default=None, metavar="MODULE", help="load extra methods from this module")
    parser.add_argument("--min-seconds", type=float, default=1.0,
                        help="repeat a method until this much time is spent (at least once, at most --repeats)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="at most this many timed runs per method and per forward measurement (the fastest counts)")
    add_config_arguments(parser)
    parser.set_defaults(func=run)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward(model, clips, repeats: int) -> float:
    """Fastest of ``repeats`` timed forward passes of ``clips`` (no gradient), after one warm-up pass.

    The minimum, not the mean: on a shared machine other processes only ever add time.
    """
    import torch

    device = clips.device
    times = []
    with torch.no_grad():
        model(clips)
        for _ in range(repeats):
            _sync(device)
            start = time.perf_counter()
            model(clips)
            _sync(device)
            times.append(time.perf_counter() - start)
    return min(times)


def time_method(name: str, model, clips, targets, batch_size: int, options: dict, min_seconds: float,
                repeats: int) -> float:
    """Fastest run of ``baselines.explain(name, ...)`` over up to ``repeats`` runs (stops after ``min_seconds``)."""
    from stabn_bench import baselines

    times: list[float] = []
    while len(times) < repeats and (not times or sum(times) < min_seconds):
        times.append(baselines.explain(name, model, clips, targets, batch_size=batch_size, **options).seconds)
    return min(times)


def run(args: argparse.Namespace) -> int:
    import torch

    from stabn_bench import baselines

    from ..commands.common import config_from_args
    from ..errors import StabnBenchError
    from ..models import build_model
    from ..runtime import select_device, seed_everything

    cfg = config_from_args(args)
    if args.clips < 1 or args.repeats < 1:
        raise StabnBenchError(f"--clips ({args.clips}) and --repeats ({args.repeats}) must be >= 1")
    for module in filter(None, [cfg.explain.methods_module, args.methods_module]):
        baselines.load_methods_module(module)
    names = baselines.select_methods(args.methods, args.model)
    seed_everything(cfg.seed)
    device = select_device(cfg.device)
    try:
        model = build_model(args.model, args.classes, depth=cfg.model.depth, width=cfg.model.width,
                            num_frames=cfg.data.num_frames).to(device).eval()
    except ValueError as err:
        raise StabnBenchError(str(err)) from None
    shape = (args.clips, 3, cfg.data.num_frames, cfg.data.crop, cfg.data.crop)
    clips = torch.randn(shape, device=device)
    targets = baselines.predicted_classes(model, clips)
    baselines.explain("saliency", model, clips, targets)  # warm up the backward kernels
    forward_all = [time_forward(model, clips, args.repeats)]
    print(f"explanation cost on {device.type} ({torch.get_num_threads()} CPU threads): {args.model} depth "
          f"{cfg.model.depth} width {cfg.model.width}, clips {tuple(shape)}, batch bound {cfg.explain.batch_size}")
    print("times are the fastest of repeated runs; each ratio divides by a forward pass timed right before the method\n")
    print(f"{'method':<22}{'cost class':<15}{'ms / clip':>12}{'forward ms':>12}{'x forward':>12}")
    for name in names:
        forward = time_forward(model, clips, args.repeats)
        forward_all.append(forward)
        cost = baselines.get_method(name).cost
        try:
            seconds = time_method(name, model, clips, targets, cfg.explain.batch_size,
                                  dict(cfg.explain.options.get(name, {})), args.min_seconds, args.repeats)
        except baselines.MethodError as err:
            print(f"{name:<22}{cost:<15}  failed: {err.reason}")
            continue
        print(f"{name:<22}{cost:<15}{seconds / args.clips * 1000:>12.2f}{forward / args.clips * 1000:>12.2f}"
              f"{seconds / forward:>12.1f}")
    print(f"\none forward pass: median {statistics.median(forward_all) / args.clips * 1000:.2f} ms per clip "
          f"(range {min(forward_all) / args.clips * 1000:.2f}-{max(forward_all) / args.clips * 1000:.2f} over the run)")
    return 0
