"""``stabn-bench perf metrics``: speed and memory of the perturbation engine, as ratios measured in one run.

On the configured model size (``model.depth`` / ``model.width``, random weights) and clip size
(``data.num_frames`` x ``data.crop``), for ``--clips`` clips and ``metrics.steps`` steps (deletion curves,
``metrics.granularities[0]`` cells, ``metrics.substrate``) it times, interleaved over ``--rounds`` rounds (the
best round of each is kept, to see through other load on the machine):

- **floor**: the same number of inputs, ``clips x (steps + 1)``, through plain batched forward passes at the best
  of several batch sizes (inputs already in memory, nothing built);
- **engine**: :meth:`PerturbationEngine.curves` on an engine that has run once (batch size tuned), i.e. what every
  method after the first pays; the first (cold) call is printed too;
- **per-step loop**: one forward pass per step and per clip, masks from the same ranks.

Memory: peak bytes of the tensors the engine allocates during one call (:class:`metrics.memory.LiveTensorMemory`:
inputs it builds, activations, outputs; not allocator caches or library workspaces), against the budget it is
given; on CUDA also ``torch.cuda.max_memory_allocated`` above what was allocated before the call.
"""
from __future__ import annotations

import argparse
import math
import time
from typing import Callable

from ..commands.common import add_config_arguments, config_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "metrics", help="perturbation engine vs plain batched forward passes and a per-step loop",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--clips", type=int, default=16, help="clips per measurement (default 16)")
    parser.add_argument("--model", default="baseline", help="model name for build_model (default baseline)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64],
                        help="batch sizes tried for the floor (default 1 2 4 8 16 32 64)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds; the best is kept (default 3)")
    parser.add_argument("--tight-budget-mb", type=float, default=64.0,
                        help="a second, small memory budget to show the back-off (default 64)")
    add_config_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from stabn_bench.metrics.engine import PerturbationEngine
    from stabn_bench.metrics.memory import LiveTensorMemory
    from stabn_bench.metrics.ordering import map_ranks
    from stabn_bench.metrics.substrates import fixed_substrate, noisy_linear_imputation

    from ..models import build_model
    from ..runtime import autocast, select_device, seed_everything

    cfg = config_from_args(args)
    seed_everything(cfg.seed)
    device = select_device(cfg.device)
    num_classes = len(cfg.data.synthetic.action_keys())
    model = build_model(args.model, num_classes=num_classes, depth=cfg.model.depth, width=cfg.model.width).to(device).eval()
    mcfg = cfg.metrics
    n, steps = args.clips, mcfg.steps
    shape = (3, cfg.data.num_frames, cfg.data.crop, cfg.data.crop)
    clips = torch.randn(n, *shape, device=device)
    maps = torch.rand(n, *shape[1:])
    targets = torch.randint(0, num_classes, (n,), device=device)
    granularity = mcfg.granularities[0]
    ranks = map_ranks(maps, granularity, "morf", torch.Generator().manual_seed(cfg.seed), mcfg.tube_size)
    num_inputs = n * (min(steps, ranks.num_cells) + 1)

    def logits(x: torch.Tensor) -> torch.Tensor:
        return model(x).logits

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def timed(fn: Callable[[], object]) -> float:
        sync()
        start = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - start

    def plain_forwards(batch: int) -> None:
        x = clips[torch.arange(batch, device=device) % n]
        with torch.inference_mode(), autocast(device):
            for _ in range(math.ceil(num_inputs / batch)):
                logits(x)

    road = mcfg.substrate == "road"
    substrate = None if road else fixed_substrate(clips, mcfg.substrate, mcfg.blur_sigma)
    noise = PerturbationEngine(logits, road_noise=mcfg.road_noise)._road_noise_fields(clips) if road else None
    rank_map = ranks.ranks.to(device)
    changed_per_step = [math.floor(k * ranks.num_cells / min(steps, ranks.num_cells) + 0.5) for k in range(min(steps, ranks.num_cells) + 1)]
    loop_scores = torch.empty(n, len(changed_per_step))

    def per_step_loop() -> None:
        with torch.inference_mode(), autocast(device):
            for i in range(n):
                for k, count in enumerate(changed_per_step):
                    mask = (rank_map[i] < count).unsqueeze(0)
                    if noise is not None:  # road, the run's default: deleted voxels imputed from kept neighbours
                        x = noisy_linear_imputation(clips[i:i + 1], ~mask.expand(1, *clips.shape[2:]),
                                                    noise[i:i + 1])
                    else:
                        assert substrate is not None
                        x = torch.where(mask, substrate[i], clips[i]).unsqueeze(0)
                    loop_scores[i, k] = logits(x).float().softmax(dim=1)[0, targets[i]].item()

    def new_engine() -> PerturbationEngine:
        return PerturbationEngine(logits, device=device, memory_budget_mb=mcfg.memory_budget_mb,
                                  max_batch_size=mcfg.max_batch_size, blur_sigma=mcfg.blur_sigma,
                                  road_noise=mcfg.road_noise, batch_size=mcfg.batch_size)

    engine = new_engine()

    def engine_curves():
        # the engine remembers every input it scored on these clips: forget them, or a repeat costs nothing
        engine._memo_clips, engine._memo = None, {}
        return engine.curves(clips, ranks, targets, "deletion", mcfg.substrate, steps)

    print(f"device: {device} | model: {args.model} depth {cfg.model.depth} width {cfg.model.width}, random weights, "
          f"{num_classes} classes | clips: {n} x {tuple(shape)} | {granularity} cells ({ranks.num_cells}), "
          f"{mcfg.substrate} substrate, {steps} steps -> {num_inputs} inputs per curve set")
    for batch in args.batch_sizes:  # build kernels for every shape before timing
        with torch.inference_mode(), autocast(device):
            logits(clips[torch.arange(batch, device=device) % n])
    cold = timed(engine_curves)
    floor_times: dict[int, float] = dict.fromkeys(args.batch_sizes, math.inf)
    engine_time = loop_time = math.inf
    for _ in range(max(1, args.rounds)):
        for batch in args.batch_sizes:
            floor_times[batch] = min(floor_times[batch], timed(lambda: plain_forwards(batch)))
        engine_time = min(engine_time, timed(engine_curves))
        loop_time = min(loop_time, timed(per_step_loop))
    best_batch = min(floor_times, key=lambda b: floor_times[b])
    floor = floor_times[best_batch]
    curves = engine_curves()
    difference = (curves.scores - loop_scores).abs().max().item()

    print("floor (plain batched forward passes): "
          + ", ".join(f"b{b} {1000 * t / num_inputs:.2f}" for b, t in floor_times.items()) + " ms/input")
    print(f"floor: {floor:.3f} s at batch {best_batch} | engine: {engine_time:.3f} s "
          f"(batch {engine.tuned_batch_size(shape) or engine.batch_size_for(shape)}; first call {cold:.3f} s incl. probe and batch-size tuning) | "
          f"per-step loop: {loop_time:.3f} s | max |engine - loop| probability {difference:.1e}")
    print(f"engine/floor = {engine_time / floor:.2f}   (goal <= 1.2)")
    goal = 10 if device.type == "cuda" else 1.4
    print(f"speed-up vs per-step loop = {loop_time / engine_time:.2f}x   (goal >= {goal}x on {device.type})")

    for budget in (float(mcfg.memory_budget_mb), float(args.tight_budget_mb)):
        probe = PerturbationEngine(logits, device=device, memory_budget_mb=budget, max_batch_size=mcfg.max_batch_size,
                                   blur_sigma=mcfg.blur_sigma, road_noise=mcfg.road_noise)
        batch = probe.batch_size_for(shape)  # probe outside the measured call
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        with LiveTensorMemory() as tracker:
            probe.curves(clips, ranks, targets, "deletion", mcfg.substrate, steps)
        peak_mb = tracker.peak / 2**20
        line = (f"memory budget {budget:.0f} MB: batch limit {batch}, peak tensor memory {peak_mb:.1f} MB "
                f"-> {'within' if peak_mb <= budget else 'OVER'} budget")
        if device.type == "cuda":
            cuda_mb = (torch.cuda.max_memory_allocated() - base) / 2**20
            line += f" (cuda max_memory_allocated above start: {cuda_mb:.1f} MB)"
        print(line)
    return 0
