"""The plug-in modules a results folder was made with, loaded again when its report is redrawn.

A run's ``config.yaml`` names its ``explain.methods_module`` and ``metrics.metrics_module``; loading them gives
the report the kinds of plug-in methods (their group and colour) and the directions of plug-in metrics (arrows,
bold best values, ranks). A module that is gone is not an error: its methods and metrics are then drawn with the
fallbacks for unknown names (kind guessed from the name, no direction).
"""
from __future__ import annotations

import logging
from typing import Mapping

log = logging.getLogger("stabn_bench.report")


def load_run_plugins(config: Mapping) -> None:
    """Best-effort import of the methods and metrics modules a run's config names."""
    from stabn_bench import baselines
    from stabn_bench.metrics import registry

    from ..errors import StabnBenchError

    sections = (("explain", "methods_module", baselines.load_methods_module),
                ("metrics", "metrics_module", registry.load_metrics_module))
    for section, key, load in sections:
        value = (config.get(section) or {}).get(key) if isinstance(config.get(section), Mapping) else None
        if value:
            try:
                load(str(value))
            except StabnBenchError as err:
                log.warning("%s.%s of this run cannot be loaded (%s); its names are drawn as unknown", section, key, err)
