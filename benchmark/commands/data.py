"""``stabn-bench data synth|show|check``: generate the synthetic data set, look at it, check a data set decodes."""
from __future__ import annotations

import argparse
from collections import Counter

from .common import add_config_arguments, config_from_args, positive_int

#: convenience flag -> key under ``data.synthetic``
SYNTH_FLAGS = {
    "num_videos": ("--num-videos", int, "number of clips"),
    "seed": ("--seed", int, "random seed of the generator"),
    "num_frames": ("--num-frames", int, "frames per clip"),
    "height": ("--height", int, "frame height in pixels"),
    "width": ("--width", int, "frame width in pixels"),
    "num_decoys": ("--num-decoys", int, "decoy objects per clip"),
    "noise": ("--noise", float, "pixel noise standard deviation (0..1 scale)"),
    "container": ("--container", str, "mp4 (H.264) or webm (VP9, as SSv2 ships)"),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="generate, view and check data sets",
                                   description="Generate the synthetic data set, draw a preview, check decoding.")
    actions = parser.add_subparsers(dest="data_action", metavar="ACTION")

    synth = actions.add_parser(
        "synth", help="generate the synthetic data set with ground truth (SSv2 layout)",
        description="Generate the synthetic Something-Something-like data set into --out (or the config's cache "
                    "folder data.root/<parameter hash> without --out). Flags set keys under data.synthetic.",
    )
    synth.add_argument("--out", default=None, metavar="DIR", help="output folder (default: cached under data.root)")
    for key, (flag, kind, text) in SYNTH_FLAGS.items():
        synth.add_argument(flag, dest=f"synth_{key}", type=kind, default=None, metavar=key.split("_")[-1].upper(),
                           help=f"{text} (data.synthetic.{key})")
    synth.add_argument("--force", action="store_true", help="replace --out if it already holds files")
    synth.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_config_arguments(synth)
    synth.set_defaults(func=run_synth)

    show = actions.add_parser(
        "show", help="draw a grid of a few clips per class (PNG)",
        description="Draw a few clips per class of an SSv2-layout data set: frames left to right, the evidence "
                    "mask outlined and the action window framed where the data set has ground truth.",
    )
    show.add_argument("dataset", help="data set folder (SSv2 layout, e.g. made by 'data synth')")
    show.add_argument("--out", required=True, help="PNG file to write")
    show.add_argument("--per-class", type=positive_int, default=2, help="clips per class (default 2)")
    show.add_argument("--frames", type=positive_int, default=8, help="frames per clip, evenly spaced (default 8)")
    show.set_defaults(func=run_show)

    check = actions.add_parser(
        "check", help="decode every clip of the configured data set; on synthetic data, check the window is necessary",
        description="Decode every clip of the configured splits; exit 1 if any clip cannot be used. On the synthetic "
                    "data set, also train simple classifiers (logistic regression, a small 3-D CNN) on views of the "
                    "generated clips and print their test accuracy: those that see only the frames outside the "
                    "action window, only the first and last frame, or the frames in random order must stay at most "
                    "1.5 x chance, and one that sees the window must reach 3 x chance (exit 1 otherwise).",
    )
    check.add_argument("--splits", nargs="+", default=None, help="splits to check (default: train, validation, test)")
    check.add_argument("--no-necessity", dest="necessity", action="store_false",
                       help="skip the necessity check of the synthetic data (it takes a few minutes)")
    check.add_argument("--necessity-epochs", type=positive_int, default=20, metavar="N",
                       help="training epochs of the CNN probe (default 20)")
    add_config_arguments(check)
    check.set_defaults(func=run_check)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def run_synth(args: argparse.Namespace) -> int:
    from ..data.synthetic import ensure_synthetic, generate_synthetic, read_manifest

    flags = [f"data.synthetic.{key}={getattr(args, f'synth_{key}')}" for key in SYNTH_FLAGS
             if getattr(args, f"synth_{key}") is not None]
    args.overrides = list(args.overrides) + flags
    cfg = config_from_args(args)
    synth_cfg = cfg.data.synthetic
    if args.out:
        out = generate_synthetic(args.out, synth_cfg, progress=not args.no_progress, overwrite=args.force)
    else:
        out = ensure_synthetic(cfg.data.root, synth_cfg, progress=not args.no_progress)
    manifest = read_manifest(out)
    splits = Counter(clip["split"] for clip in manifest["clips"].values())
    print(f"synthetic data set: {out}")
    print(f"  {len(manifest['clips'])} clips, {len(manifest['classes'])} classes, {synth_cfg.num_frames} frames of "
          f"{synth_cfg.height}x{synth_cfg.width}, {synth_cfg.container}; "
          + ", ".join(f"{name} {splits.get(name, 0)}" for name in ("train", "validation", "test")))
    return 0


def run_show(args: argparse.Namespace) -> int:
    from ..data.preview import draw_class_grid

    out = draw_class_grid(args.dataset, args.out, clips_per_class=args.per_class, max_frames=args.frames)
    print(f"wrote {out}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from torch.utils.data import DataLoader

    from ..data import SkipReport, build_dataset, collate_clips

    cfg = config_from_args(args)
    data_cfg = cfg.data
    splits = args.splits or [data_cfg.train_split, data_cfg.val_split, data_cfg.test_split]
    report = SkipReport()
    for split in splits:
        dataset = build_dataset(data_cfg, split)
        loader = DataLoader(dataset, batch_size=16, num_workers=data_cfg.num_workers, collate_fn=collate_clips)
        decoded = 0
        for batch in loader:
            decoded += len(batch["clip_id"])
            report.update(batch)
        print(f"{split}: {decoded} of {len(dataset)} clips decode ({dataset.num_classes} classes)")
    for entry in report.entries:
        print(f"  cannot use {entry}")
    failed = bool(len(report))
    if cfg.data.source == "synthetic" and args.necessity:
        failed |= not _necessity(cfg, args.necessity_epochs)
    return 1 if failed else 0


def _necessity(cfg, epochs: int) -> bool:
    """Print the necessity check of the synthetic data set; True when the design passes."""
    from ..data.necessity import necessity_check

    synth = cfg.data.synthetic
    print(f"necessity of the action window ({synth.design} design, {len(synth.action_keys())} classes, chance "
          f"{1 / len(synth.action_keys()):.3f}): test accuracy of classifiers that see part of each clip")
    report = necessity_check(synth, epochs=epochs,
                             progress=lambda probe, view, acc: print(f"  {probe:<7} {view:<11} {acc:.3f}", flush=True))
    print(f"  ({report.num_train} training and {report.num_test} test clips)")
    print(report.table())
    problems = report.failures()
    if problems:
        print("necessity FAILS: the temporal metrics cannot tell whether an explanation found the window:")
        for problem in problems:
            print(f"  - {problem}")
    else:
        print("necessity holds: only the window tells the class (outside, endpoints and order-free views at most "
              "1.5 x chance; the window view at least 3 x chance)")
    return not problems
