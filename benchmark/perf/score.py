"""``stabn-bench perf score``: where the explain + score time goes, by method and by part of the work.

Measures one clip batch of the configured size (``explain.batch_size`` clips of ``data.num_frames`` x
``data.crop``, random weights and clips, a synthetic evidence mask and action window) through the run's own
unit of work (:func:`~stabn_bench.benchmark.pipeline.clip_batch.score_clip_batch`, every method and metric the
config selects), or reads the split a finished run recorded (``--run``, its ``provenance.json``). It prints

- per method: seconds of its explanation, of its scoring, of the tie-break re-scorings, the sanity and
  robustness checks, and the forward passes its scoring ran (and answered from the memo);
- per part of the scoring (``deletion``, ``deletion_lerf``, ``insertion``, ``frame_deletion``, ``keep_top_k``,
  the shared ``reference/...`` curves, ...), summed over the methods: seconds, forwards, and milliseconds per
  forward against the forward floor (a plain batched forward pass of the same clips, measured in this run).

The parts named in ``metrics/costs.py`` nest (``ties/score/deletion``); each row counts its own work only.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..commands.common import add_config_arguments

EPILOG = """\
examples:
  stabn-bench perf score                          # one clip batch of the default preset, baseline model
  stabn-bench perf score --model stabn --preset smoke
  stabn-bench perf score --run results/synthetic  # the split the run recorded
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score", help="explain + score time by method and by metric: seconds, forwards, ms per forward vs floor",
        description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default="baseline", help="model to measure: baseline, abn or stabn (default: baseline)")
    parser.add_argument("--methods", nargs="+", default=None, help="methods to measure (default: explain.methods)")
    parser.add_argument("--run", default=None, metavar="RUN_DIR",
                        help="print the split recorded in RUN_DIR/provenance.json instead of measuring")
    add_config_arguments(parser)
    parser.set_defaults(func=run)


def _printable(text: object) -> str:
    """``text`` with control characters escaped (names read from a results folder are untrusted)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def run(args: argparse.Namespace) -> int:
    from stabn_bench.metrics.costs import Cost

    if args.run is not None:
        costs, title = _recorded(Path(args.run))
        floor_ms = None
    else:
        costs, title, floor_ms = _measure(args)
    print(title)
    _print_methods(costs)
    print()
    _print_parts(costs, floor_ms)
    total = Cost()
    for parts in costs.values():
        for part, cost in parts.items():
            if "/" not in part:
                total.add(cost)
    print(f"\ntotal: {total.seconds:.1f} s, {total.forwards} scoring forwards ({total.reused} answered by the memo)")
    return 0


def _recorded(run_dir: Path) -> tuple[dict, str]:
    """``{"model:method": {part: Cost}}`` from a run's provenance (validated: numbers only)."""
    from stabn_bench.metrics.costs import Cost

    from ..errors import StabnBenchError

    path = run_dir / "provenance.json"
    try:
        recorded = json.loads(path.read_text()).get("explain_costs")
    except (OSError, ValueError, AttributeError) as err:
        raise StabnBenchError(f"{_printable(path)}: cannot read its explain_costs ({_printable(err)})") from None
    if not isinstance(recorded, dict) or not recorded:
        raise StabnBenchError(f"{_printable(path)} has no explain_costs: the run predates them or explained nothing")
    costs: dict[str, dict[str, Cost]] = {}
    for unit, parts in recorded.items():
        try:
            costs[str(unit)] = {str(part): Cost.from_list(list(values)) for part, values in dict(parts).items()}
        except (TypeError, ValueError):
            raise StabnBenchError(f"{_printable(path)}: explain_costs['{_printable(unit)}'] is not a table of "
                                  f"[seconds, forwards, reused, forward seconds]") from None
    return costs, f"explain + score costs recorded by {_printable(run_dir)} (all models, seeds and clip batches)"


def _measure(args: argparse.Namespace) -> tuple[dict, str, float]:
    import torch

    from stabn_bench import baselines
    from stabn_bench.core import MODEL_LEVEL
    from stabn_bench.metrics.engine import channels_last_model

    from ..commands.common import config_from_args
    from ..errors import StabnBenchError
    from ..models import build_model
    from ..pipeline.clip_batch import ClipBatchInputs, score_clip_batch
    from ..runtime import select_device, seed_everything
    from .explain import time_forward

    cfg = config_from_args(args)
    seed_everything(cfg.seed)
    device = select_device(cfg.device)
    num_classes = len(cfg.data.synthetic.action_keys())
    try:
        model = build_model(args.model, num_classes, depth=cfg.model.depth, width=cfg.model.width,
                            num_frames=cfg.data.num_frames).to(device).eval()
    except ValueError as err:
        raise StabnBenchError(str(err)) from None
    if device.type == "cpu":
        channels_last_model(model)  # as the run's workers do
    names = baselines.select_methods(args.methods or cfg.explain.methods, args.model)
    n, t, size = cfg.explain.batch_size, cfg.data.num_frames, cfg.data.crop
    generator = torch.Generator().manual_seed(cfg.seed)
    clips = torch.randn(n, 3, t, size, size, generator=generator).to(device)
    evidence = torch.zeros(n, t, size, size)
    window = torch.zeros(n, t)
    side = max(2, size // 4)
    for i in range(n):  # a square of the target's size and a window of half the clip, at random places
        y, x = (int(v) for v in torch.randint(0, size - side + 1, (2,), generator=generator))
        start = int(torch.randint(0, t - t // 2 + 1, (1,), generator=generator))
        evidence[i, :, y:y + side, x:x + side] = 1
        window[i, start:start + t // 2] = 1
    labels = baselines.predicted_classes(model, clips).cpu()
    inputs = ClipBatchInputs(clips=clips, targets=labels.to(device), labels=labels, clip_ids=[f"clip{i}" for i in range(n)],
                             seed=cfg.seed, target_kind="predicted", evidence=evidence, window=window,
                             window_prior=torch.full((t,), 0.5), first=True)
    tie = [m for m in cfg.metrics.validity.tie_methods if m in names]
    costs = {f"{args.model}:{unit.name}": unit.costs
             for unit in score_clip_batch(model, inputs, [MODEL_LEVEL, *names], cfg.metrics, cfg.explain,
                                          tie_methods=tie)}
    batch = min(n, cfg.metrics.batch_size or n)
    floor_ms = time_forward(model, clips[:batch], repeats=3) / batch * 1000
    title = (f"explain + score costs of one clip batch on {device.type} ({torch.get_num_threads()} CPU threads): "
             f"{args.model}, random weights, clips {(n, 3, t, size, size)}, {len(names)} methods, tie re-scoring of "
             f"{', '.join(tie) or 'none'}; forward floor {floor_ms:.2f} ms per clip (batches of {batch})")
    return costs, title, floor_ms


def _print_methods(costs: dict) -> None:
    columns = ("explain", "score", "ties", "sanity", "robustness")
    print(f"\n{'model:method':<36}" + "".join(f"{c + ' s':>13}" for c in columns) + f"{'forwards':>10}{'memo':>8}")
    for unit, parts in sorted(costs.items(), key=lambda item: -sum(c.seconds for p, c in item[1].items() if "/" not in p)):
        forwards = sum(c.forwards for p, c in parts.items() if "/" not in p)
        reused = sum(c.reused for p, c in parts.items() if "/" not in p)
        cells = "".join(f"{parts[c].seconds:>13.2f}" if c in parts else f"{'-':>13}" for c in columns)
        print(f"{_printable(unit):<36}{cells}{forwards:>10}{reused:>8}")


def _print_parts(costs: dict, floor_ms: float | None) -> None:
    from stabn_bench.metrics.costs import Cost, exclusive

    totals: dict[str, Cost] = {}
    for parts in costs.values():
        for part, cost in exclusive(parts).items():
            name = part.removeprefix("score/").replace("ties/score/", "ties/")
            totals.setdefault(name, Cost()).add(cost)
    floor = f"{'x floor':>9}" if floor_ms else ""
    print(f"{'part of the work (summed over methods)':<40}{'seconds':>10}{'forwards':>10}{'memo':>8}{'ms/forward':>12}{floor}")
    for part, cost in sorted(totals.items(), key=lambda item: -item[1].seconds):
        per = cost.seconds / cost.forwards * 1000 if cost.forwards else float("nan")
        ratio = f"{per / floor_ms:>9.2f}" if floor_ms and cost.forwards else (f"{'-':>9}" if floor_ms else "")
        print(f"{_printable(part):<40}{cost.seconds:>10.2f}{cost.forwards:>10}{cost.reused:>8}"
              f"{per if cost.forwards else float('nan'):>12.2f}{ratio}")
