"""``stabn-bench train``: train baseline / abn / stabn with the recipe of docs/design.md section 2 (resumable, DDP-ready)."""
from __future__ import annotations

import argparse

from ..config import ConfigError
from ..models import MODELS
from .common import add_config_arguments, config_from_args

EPILOG = """\
examples:
  stabn-bench train --model stabn                      # default synthetic preset
  stabn-bench train model=stabn train.epochs=3         # same as --model stabn, with an override
  stabn-bench train --preset ssv2 data.root=/data/ssv2 --model stabn
  torchrun --nproc_per_node=4 -m benchmark.cli train --preset ssv2 data.root=/data/ssv2 --model stabn

Without --model, every model of train.models is trained. Checkpoints (last.pt, best.pt) and metrics.csv go to
--out (default: <checkpoint_dir>/<run_name>-<model>-<config hash>); a killed run continues there on the next call.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train baseline / abn / stabn (resumable; DDP under torchrun)",
        description="Train video models with the recipe of docs/design.md section 2. The model is named with --model NAME "
                    "or the shorthand model=NAME among the overrides.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", action="append", choices=list(MODELS), default=None, metavar="NAME",
                        help=f"model to train ({', '.join(MODELS)}); repeat for several (default: train.models)")
    parser.add_argument("--out", default=None, help="checkpoint folder (with several models: one sub-folder each)")
    parser.add_argument("--resume", dest="resume", action="store_true", default=True,
                        help="continue from <out>/last.pt when it exists (default)")
    parser.add_argument("--no-resume", dest="resume", action="store_false", help="start from scratch")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    add_config_arguments(parser)
    parser.set_defaults(func=run)


def split_model_shorthand(overrides: list[str]) -> tuple[list[str], list[str]]:
    """Take ``model=NAME`` (a model name, not a config section) out of the overrides: (model names, other overrides)."""
    names, rest = [], []
    for text in overrides:
        key, _, value = text.partition("=")
        if key.strip() == "model" and "." not in key:
            if value not in MODELS:
                raise ConfigError(f"override '{text}': unknown model '{value}'; valid models: {', '.join(MODELS)}")
            names.append(value)
        else:
            rest.append(text)
    return names, rest


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .. import distributed
    from ..training import checkpoint_folder, train_model

    shorthand, args.overrides = split_model_shorthand(list(args.overrides))
    cfg = config_from_args(args)
    names = list(dict.fromkeys((args.model or []) + shorthand)) or list(cfg.train.models)
    for name in names:
        if name not in MODELS:
            raise ConfigError(f"config key 'train.models' names unknown model '{name}'; valid: {', '.join(MODELS)}")
    from ..runtime import ensure_writable_dir

    folders = {name: checkpoint_folder(cfg, name) if args.out is None
               else (Path(args.out) if len(names) == 1 else Path(args.out) / name) for name in names}
    if distributed.is_main():  # before any data is read or any epoch is trained
        for folder in folders.values():
            ensure_writable_dir(folder, "--out" if args.out else "config key 'checkpoint_dir'")
    for name in names:
        out = folders[name]
        result = train_model(cfg, name, out, resume=args.resume, progress=args.progress)
        if distributed.is_main():
            last = result.history[-1] if result.history else {}
            status = "already trained" if result.epochs_trained == 0 else f"trained {result.epochs_trained} epochs"
            val = last.get("val_top1_perception")
            print(f"{name}: {status} in {result.wall_time_s:.1f} s; best validation top-1 {result.best_metric:.4f}"
                  + (f" (last {val:.4f})" if val is not None else "")
                  + f"; checkpoints: {result.best_path}, {result.last_path}")
    distributed.cleanup()
    return 0
