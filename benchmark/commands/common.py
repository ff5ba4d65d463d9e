"""Arguments shared by the subcommands that take a config."""
from __future__ import annotations

import argparse

from ..config import RunConfig, load_config


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """``--preset NAME | --config FILE`` and trailing ``a.b.c=value`` overrides."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--preset", default=None, help="packaged config name: synthetic (default), smoke, ssv2")
    group.add_argument("--config", default=None, help="path to a YAML config file")
    parser.add_argument(
        "overrides", nargs="*", default=[], metavar="KEY=VALUE",
        help="override any config key, e.g. train.epochs=3 model.width=8 device=cpu",
    )


def config_from_args(args: argparse.Namespace) -> RunConfig:
    return load_config(args.config or args.preset, args.overrides)
