"""Config loading: packaged presets or YAML files, ``a.b.c=value`` overrides, typed validation."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from .loader import (
    CONFIG_DIR,
    ConfigError,
    apply_overrides,
    dump_yaml,
    from_dict,
    load_yaml_tree,
    to_dict,
)
from .names import check_names
from .schema import (
    DataConfig,
    ExplainConfig,
    MetricsConfig,
    ModelConfig,
    ReportConfig,
    RunConfig,
    SyntheticConfig,
    TrainConfig,
)

DEFAULT_PRESET = "synthetic"


def load_config(preset: str | Path | None = None, overrides: Iterable[str] = ()) -> RunConfig:
    """Resolve a :class:`RunConfig` from a preset name or YAML path plus ``a.b.c=value`` overrides.

    Only parses and validates the values: no plug-in module is imported and no method or metric name is checked.
    A command that explains or scores calls :func:`check_names` next (``run_benchmark`` does so first thing).
    """
    tree = load_yaml_tree(preset or DEFAULT_PRESET)
    tree = apply_overrides(tree, overrides)
    try:
        cfg = from_dict(RunConfig, tree)
    except ConfigError as err:
        source = str(preset or DEFAULT_PRESET)
        if source in str(err):
            raise
        kind = "config file" if source.endswith((".yaml", ".yml")) or "/" in source else "preset"
        raise ConfigError(f"{err} (with {kind} '{source}')") from None
    return cfg


__all__ = [
    "CONFIG_DIR", "ConfigError", "DataConfig", "ExplainConfig", "MetricsConfig", "ModelConfig", "ReportConfig", "RunConfig",
    "SyntheticConfig", "TrainConfig", "apply_overrides", "check_names", "dump_yaml", "from_dict", "load_config",
    "load_yaml_tree", "to_dict",
]
