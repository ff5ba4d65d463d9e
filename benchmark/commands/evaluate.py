"""``stabn-bench evaluate``: top-1 / top-5 of every head of trained checkpoints, written as ``accuracy.csv``."""
from __future__ import annotations

import argparse
from pathlib import Path

from .common import config_from_checkpoint, positive_int

EPILOG = """\
examples:
  stabn-bench evaluate checkpoints/synthetic-stabn-*/best.pt
  stabn-bench evaluate a/best.pt b/best.pt --split validation --out results/accuracy.csv
  stabn-bench evaluate stabn/best.pt --reverse          # frames in reverse order, scored against the original labels
                                                        # (arrow-of-time: against the flipped label, forward <-> reversed;
                                                        # double-speed clips are left out)
  stabn-bench evaluate stabn/best.pt data.root=/elsewhere/synthetic

The data section comes from the config stored in each checkpoint; --preset/--config replace it, and KEY=VALUE
overrides apply on top. Top-k values are fractions in [0, 1].
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="accuracy of trained checkpoints (accuracy.csv: one row per model and head)",
        description="Evaluate checkpoints on a split; writes model,head,top1,top5,n_clips.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("items", nargs="+", metavar="CHECKPOINT|KEY=VALUE",
                        help="checkpoint files (.pt), then optional config overrides such as data.root=DIR")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--preset", default=None, help="take the data section from this preset instead of the checkpoint")
    group.add_argument("--config", default=None, help="take the data section from this YAML file instead")
    parser.add_argument("--split", default=None, help="split name (default: data.test_split, 'test')")
    parser.add_argument("--out", default=None, help="CSV to write (default: accuracy.csv, or accuracy_reversed.csv with --reverse)")
    parser.add_argument("--reverse", action="store_true", help="time-reversed clips scored against their original labels "
                        "(arrow-of-time data: against the flipped label, forward <-> reversed)")
    parser.add_argument("--batch-size", type=positive_int, default=None, help="clips per batch (default: train.batch_size)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from .. import distributed
    from ..data import SkipReport, build_dataset
    from ..errors import CheckpointError, StabnBenchError
    from ..runtime import ensure_writable_dir, select_device
    from ..training import accuracy_rows, evaluate_model, load_model, write_accuracy_csv
    from ..training.checkpoint import check_classes
    from ..training.data import eval_loader

    overrides = [item for item in args.items if "=" in item]
    paths = [item for item in args.items if "=" not in item]
    if not paths:
        raise CheckpointError("evaluate needs at least one checkpoint file (e.g. checkpoints/<run>/best.pt)")
    out = args.out or ("accuracy_reversed.csv" if args.reverse else "accuracy.csv")
    if Path(out).is_dir():
        raise StabnBenchError(f"--out '{out}' is a folder; give a CSV file name")
    ensure_writable_dir(Path(out).resolve().parent, f"--out '{out}'")
    rows = []
    skipped = SkipReport()
    for path in paths:
        cfg = config_from_checkpoint(path, args.config or args.preset, overrides)
        device = select_device(cfg.device)
        if distributed.init_from_env(device) and device.type == "cuda":
            device = torch.device("cuda", distributed.local_rank())
        model, meta = load_model(path, device)
        split = args.split or cfg.data.test_split
        dataset = build_dataset(cfg.data, split, train=False, progress=args.progress)
        if dataset.num_classes != meta["num_classes"]:
            raise CheckpointError(f"checkpoint '{path}' was trained for {meta['num_classes']} classes; the "
                                  f"{split} split of data.root='{cfg.data.root}' has {dataset.num_classes}")
        check_classes(meta, dataset.classes, path, f"the {split} split of data.root='{cfg.data.root}'")
        if meta.get("num_frames") not in (None, cfg.data.num_frames):
            raise CheckpointError(f"checkpoint '{path}' was trained on clips of {meta['num_frames']} frames; "
                                  f"data.num_frames is {cfg.data.num_frames}")
        loader = eval_loader(dataset, args.batch_size or cfg.train.batch_size, cfg.data.num_workers)
        batches = _recording(loader, skipped)
        flipped = getattr(dataset, "reversal_labels", None) if args.reverse else None
        accuracy = evaluate_model(model, batches, device, reverse=args.reverse, amp=cfg.train.amp,
                                  channels_last=cfg.train.channels_last, progress=args.progress,
                                  reversal_labels=flipped)
        rows += accuracy_rows(meta["arch"], accuracy)
    if distributed.is_main():
        write_accuracy_csv(rows, out)
        order = "clips"
        if args.reverse:
            order = ("time-reversed clips, labels flipped: forward <-> reversed" if flipped is not None
                     else "time-reversed clips, original labels")
        print(f"accuracy on the {split} split ({order}) -> {out}")
        for row in rows:
            print(f"  {row['model']:<10} {row['head']:<11} top1 {row['top1']:.4f}  top5 {row['top5']:.4f}  "
                  f"n={row['n_clips']}")
        entries = list(dict.fromkeys(skipped.entries))
        if entries:
            print(f"  {len(entries)} clips could not be decoded and are not counted:")
            for entry in entries:
                print(f"    {entry}")
    distributed.cleanup()
    return 0


class _recording:
    """Iterate ``loader``, noting every batch's skipped clips in ``report``."""

    def __init__(self, loader, report):
        self.loader, self.report = loader, report

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            self.report.update(batch.get("skipped", []))
            yield batch
