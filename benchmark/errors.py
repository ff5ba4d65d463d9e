"""Errors that the command line reports as one line (no traceback); defined in :mod:`stabn_bench.core`."""
from __future__ import annotations

from stabn_bench.core import CheckpointError, ConfigError, DataError, StabnBenchError

#: exit code per error type: 2 for usage / config mistakes, 1 for everything else the user must fix
EXIT_CODES = {ConfigError: 2, StabnBenchError: 1}

__all__ = ["EXIT_CODES", "CheckpointError", "ConfigError", "DataError", "StabnBenchError"]
