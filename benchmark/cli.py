"""The ``stabn-bench`` console script: one parser, one subcommand per module in ``benchmark.commands``."""
from __future__ import annotations

import argparse
import functools
import logging
import sys

from . import __version__
from .commands import command_modules
from .errors import EXIT_CODES
from .runtime import setup_logging


@functools.lru_cache(maxsize=1)
def build_parser() -> argparse.ArgumentParser:
    """The whole command line (built once per process: parsing does not change it)."""
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


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    args, extra = parser.parse_known_args(argv)
    # KEY=VALUE overrides may also follow options (``train --out DIR train.epochs=3``)
    if extra:
        if hasattr(args, "overrides") and all("=" in a and not a.startswith("-") for a in extra):
            args.overrides = list(args.overrides) + extra
        elif hasattr(args, "items") and all("=" in a and not a.startswith("-") for a in extra):
            args.items = list(args.items) + extra  # evaluate / explain: CHECKPOINT ... KEY=VALUE
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def os_error_text(err: OSError) -> str:
    """One line naming the path and what to do, for a file-system error that reached the command line."""
    paths = " -> ".join(f"'{p}'" for p in (err.filename, err.filename2) if p is not None) or "a file"
    reason = err.strerror or str(err) or type(err).__name__
    hints = {
        PermissionError: "check its permissions or choose another folder",
        FileNotFoundError: "check that the path exists",
        IsADirectoryError: "give a file, not a folder",
        NotADirectoryError: "a parent of the path is a file, not a folder",
        FileExistsError: "remove it or choose another name",
    }
    hint = next((h for t, h in hints.items() if isinstance(err, t)), "check the path and the free disk space")
    return f"{paths}: {reason}; {hint}"


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (0 ok, 1 a failure the user must fix, 2 bad usage or config)."""
    parser = build_parser()
    try:
        args = _parse(parser, argv)
    except SystemExit as exit_:  # argparse: --help / --version (0) or a usage error (2, message printed)
        return exit_.code if isinstance(exit_.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    setup_logging(args.verbose)
    log = logging.getLogger("stabn_bench")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("stabn-bench: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except tuple(EXIT_CODES) as err:  # one-line errors the user can act on
        code = next(c for t, c in EXIT_CODES.items() if isinstance(err, t))
        if args.verbose:
            log.exception("failed")
        print(f"stabn-bench: error: {err}", file=sys.stderr)
        return code
    except OSError as err:  # a file system problem (permissions, a file where a folder is expected, disk full)
        if args.verbose:
            log.exception("failed")
        print(f"stabn-bench: error: {os_error_text(err)}", file=sys.stderr)
        return 1
    except UnicodeError as err:
        if args.verbose:
            log.exception("failed")
        print(f"stabn-bench: error: a text file is not UTF-8 ({err}); save it as UTF-8", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
