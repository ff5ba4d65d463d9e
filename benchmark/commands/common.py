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


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (argparse names the option in its error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not >= 1")
    return value


def config_from_checkpoint(path: str, preset_or_file: str | None, overrides: list[str]) -> RunConfig:
    """The config of a command that reads a checkpoint: its stored data / model / train sections (never its
    explanation settings: nothing in a checkpoint is imported or run), or ``--preset``/``--config``, plus overrides."""
    from ..config import ConfigError, apply_overrides, from_dict, load_yaml_tree
    from ..training.checkpoint import read_checkpoint, stored_config

    stored = stored_config(read_checkpoint(path)["meta"])
    tree = load_yaml_tree(preset_or_file) if preset_or_file else stored
    try:
        return from_dict(RunConfig, apply_overrides(tree, overrides))
    except ConfigError as err:
        if preset_or_file:
            raise
        raise ConfigError(f"checkpoint '{path}' stores a config that is not valid here: {err}") from None
