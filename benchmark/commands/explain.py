"""``stabn-bench explain``: one method's explanation of one clip, as a frame strip and an animated overlay."""
from __future__ import annotations

import argparse
import difflib
from pathlib import Path

EPILOG = """\
examples:
  stabn-bench explain checkpoints/<run>/stabn/best.pt --method stabn-attention --clip 17 --out stabn17.png
  stabn-bench explain best.pt --method gradcam --clip 17 --out gradcam17.pdf --gif gradcam17.mp4 --target label
  stabn-bench explain best.pt --method my-method --methods-module my_methods.py --clip 17 --out mine.png
  stabn-bench explain best.pt explain.options.integrated-gradients.n_steps=32 --method integrated-gradients --clip 17 --out ig.png

The data section comes from the config stored in the checkpoint; --preset/--config replace it, and KEY=VALUE
overrides (right after the checkpoint) apply on top. The strip shows the frames (top), the overlay (middle) and the per-frame importance
(bottom); the animation shows the clip beside its overlay. `stabn-bench methods` lists the method names.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "explain", help="explain one clip with one method: frame strip (PNG/PDF) and animated overlay (GIF/MP4)",
        description="Explain one test clip with one explanation method and draw the result.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("items", nargs="+", metavar="CHECKPOINT|KEY=VALUE",
                        help="the checkpoint file (.pt), then optional config overrides such as data.root=DIR")
    parser.add_argument("--method", required=True, help="a registered method (see `stabn-bench methods`)")
    parser.add_argument("--clip", required=True, help="clip id in the split (e.g. the SSv2 video id)")
    parser.add_argument("--out", required=True, help="frame strip to write (.png or .pdf)")
    parser.add_argument("--gif", default=None,
                        help="animated overlay to write (.gif or .mp4; default: --out with the suffix .gif)")
    parser.add_argument("--target", choices=["predicted", "label"], default=None,
                        help="class to explain (default: explain.target of the config, 'predicted')")
    parser.add_argument("--split", default=None, help="split the clip is read from (default: data.test_split)")
    parser.add_argument("--methods-module", default=None, metavar="MODULE",
                        help="load extra methods from this module (dotted name or .py file)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--preset", default=None, help="take the config from this preset instead of the checkpoint")
    group.add_argument("--config", default=None, help="take the config from this YAML file instead")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    parser.set_defaults(func=run)


def find_clip(dataset, clip_id: str, split: str) -> int:
    """Index of ``clip_id`` in ``dataset``; a DataError with close matches when it is not there."""
    from ..errors import DataError

    ids = dataset.clip_ids
    if clip_id in ids:
        return ids.index(clip_id)
    close = difflib.get_close_matches(clip_id, ids, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else f"; e.g. {', '.join(ids[:5])}"
    raise DataError(f"clip '{clip_id}' is not in the {split} split ({len(ids)} clips){hint}")


def run(args: argparse.Namespace) -> int:
    import torch

    from stabn_bench import baselines
    from ..report.render import ANIMATION_SUFFIXES, STRIP_SUFFIXES, save_animation, save_frame_strip

    from .common import config_from_checkpoint
    from ..data import DecodeFailure, build_dataset, denormalize
    from ..errors import CheckpointError, DataError, StabnBenchError
    from ..runtime import select_device
    from ..training import load_model
    from ..training.checkpoint import check_classes

    overrides = [item for item in args.items if "=" in item]
    paths = [item for item in args.items if "=" not in item]
    if len(paths) != 1:
        raise CheckpointError(f"explain needs exactly one checkpoint file, got {len(paths)}: {' '.join(paths) or 'none'}")
    out, animation = Path(args.out), Path(args.gif) if args.gif else Path(args.out).with_suffix(".gif")
    if out.suffix.lower() not in STRIP_SUFFIXES:
        raise StabnBenchError(f"--out '{out}' must end in {' or '.join(STRIP_SUFFIXES)}")
    if animation.suffix.lower() not in ANIMATION_SUFFIXES:
        raise StabnBenchError(f"--gif '{animation}' must end in {' or '.join(ANIMATION_SUFFIXES)}")

    for target in {out.resolve().parent, animation.resolve().parent}:  # before any work
        from ..runtime import ensure_writable_dir

        ensure_writable_dir(target, f"the folder of --out/--gif '{target}'")
    path = paths[0]
    cfg = config_from_checkpoint(path, args.config or args.preset, overrides)
    # methods modules come from the command line or the user's own --config, never from a checkpoint
    for module in filter(None, [cfg.explain.methods_module, args.methods_module]):
        baselines.load_methods_module(module)
    baselines.get_method(args.method)  # unknown names fail before anything is loaded
    device = select_device(cfg.device)
    model, meta = load_model(path, device)
    split = args.split or cfg.data.test_split
    dataset = build_dataset(cfg.data, split, train=False, progress=args.progress)
    check_classes(meta, dataset.classes, path, f"the {split} split of data.root='{cfg.data.root}'")
    item = dataset[find_clip(dataset, str(args.clip), split)]
    if isinstance(item, DecodeFailure):
        raise DataError(f"clip '{args.clip}' cannot be decoded: {item}")

    clips = item["clip"][None]  # (1, C, T, H, W)
    target_kind = args.target or cfg.explain.target
    label = torch.tensor([item["label"]])
    if target_kind == "label" and item["label"] < 0:
        raise DataError(f"clip '{args.clip}' of the {split} split has no label; use --target predicted")
    targets = baselines.resolve_targets(model, clips, label, target_kind)
    truth = {"evidence": item["evidence"][None], "action_window": item["window"][None]} if "evidence" in item else None
    explanation = baselines.explain(args.method, model, clips, targets, target_kind=target_kind, seed=cfg.seed,
                                    batch_size=cfg.explain.batch_size, ground_truth=truth,
                                    **cfg.explain.options.get(args.method, {}))

    classes = meta.get("classes") or dataset.classes
    name = lambda k: classes[k] if 0 <= k < len(classes) else str(k)  # noqa: E731
    target_class = int(explanation.targets[0])
    title = (f"{args.method} on {meta['arch']} | clip {args.clip} | explains '{name(target_class)}' ({target_kind})"
             + (f" | label '{name(item['label'])}'" if item["label"] >= 0 else ""))
    frames = denormalize(clips[0]).permute(1, 2, 3, 0).numpy()  # (T, H, W, 3)
    maps, temporal = explanation.spatiotemporal[0], explanation.temporal[0]
    save_frame_strip(out, frames, maps, temporal, title=title)
    save_animation(animation, frames, maps, temporal)
    print(f"{args.method} on clip {args.clip} ({meta['arch']}, target '{name(target_class)}', {target_kind}) "
          f"in {explanation.seconds:.2f} s -> {out}, {animation}")
    return 0
