"""The ``stabn-bench`` console script: one parser, one subcommand per module in ``benchmark.commands``."""
from __future__ import annotations

import argparse
import logging
import sys

from . import __version__
from .commands import command_modules
from .errors import EXIT_CODES
from .runtime import setup_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stabn-bench",
        description="Benchmark explanations of video recognition models (ST-ABN, ABN, plain 3D ResNet).",
    )
    parser.add_argument("--version", action="version", version=f"stabn-bench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in command_modules():
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # KEY=VALUE overrides may also follow options (``train --out DIR train.epochs=3``)
    if extra:
        if hasattr(args, "overrides") and all("=" in a and not a.startswith("-") for a in extra):
            args.overrides = list(args.overrides) + extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("stabn-bench: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except tuple(EXIT_CODES) as err:  # one-line errors the user can act on
        code = next(c for t, c in EXIT_CODES.items() if isinstance(err, t))
        if args.verbose:
            logging.getLogger("stabn_bench").exception("failed")
        print(f"stabn-bench: error: {err}", file=sys.stderr)
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
