"""The typed result of every video model's forward pass; defined in :mod:`stabn_bench.core`."""
from __future__ import annotations

from stabn_bench.core import VideoModelOutput

__all__ = ["VideoModelOutput"]
