"""The one error type of the explanation methods."""
from __future__ import annotations

from stabn_bench.core import StabnBenchError


class MethodError(StabnBenchError):
    """An explanation method that cannot be used or that failed; the message names the method and the reason.

    Raised for an unknown method name (with a close match), a method that does not apply to the model, and a
    method that raised, returned a map of the wrong shape, or returned NaN / inf values.
    """

    def __init__(self, method: str, reason: str):
        self.method = method
        self.reason = reason
        super().__init__(f"explanation method '{method}': {reason}")

    def __reduce__(self):  # picklable (a worker process hands it back): rebuilt from the two arguments
        return type(self), (self.method, self.reason)
