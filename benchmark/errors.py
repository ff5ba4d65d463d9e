"""Errors that the command line reports as one line (no traceback)."""
from __future__ import annotations

from .config.loader import ConfigError


class StabnBenchError(RuntimeError):
    """A user-facing failure (bad file, bad data, mismatch). The message is one line naming what is wrong."""


class DataError(StabnBenchError):
    """A data set, annotation or video file that cannot be used; the message names the path and the problem."""


class CheckpointError(StabnBenchError):
    """A checkpoint that does not fit the model asked for; the message names the mismatch."""


#: exit code per error type: 2 for usage / config mistakes, 1 for everything else the user must fix
EXIT_CODES = {ConfigError: 2, StabnBenchError: 1}
