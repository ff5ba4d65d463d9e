"""The one step after parsing a config that loads plug-ins and checks the names the config refers to:
explanation methods (``explain.methods`` and ``metrics.in_domain.methods``), their options and metrics
(``metrics.metrics`` and ``metrics.in_domain.metrics``).

They need the registries, so the user's methods and metrics modules (``explain.methods_module``,
``metrics.metrics_module``) and the entry-point plugins are loaded first. Parsing (``load_config``) does none of
this; :func:`check_names` runs at the very start of ``run_benchmark``, before any data, training or output folder:
a mistyped name is a one-line :class:`ConfigError` (exit code 2) within a second.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from stabn_bench.core import did_you_mean

from .loader import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from .schema import ExplainConfig, MetricsConfig, RunConfig


def load_metrics_plugins(cfg: "MetricsConfig") -> None:
    """Import the entry-point metric plugins and ``metrics.metrics_module`` (a bad module: ConfigError)."""
    from stabn_bench.core import StabnBenchError
    from stabn_bench.metrics import registry

    registry.load_entry_point_metrics()
    if cfg.metrics_module:
        try:
            registry.load_metrics_module(cfg.metrics_module)
        except StabnBenchError as err:
            raise ConfigError(f"config key 'metrics.metrics_module': {err}") from None


def load_method_plugins(cfg: "ExplainConfig") -> None:
    """Import the entry-point method plugins and ``explain.methods_module`` (a bad module: ConfigError)."""
    from stabn_bench import baselines
    from stabn_bench.core import StabnBenchError

    baselines.load_entry_point_methods()
    if cfg.methods_module:
        try:
            baselines.load_methods_module(cfg.methods_module)
        except StabnBenchError as err:
            raise ConfigError(f"config key 'explain.methods_module': {err}") from None


def check_metric_names(cfg: "MetricsConfig") -> None:
    """Every name in ``metrics.metrics`` and ``metrics.in_domain.metrics`` is ``all`` or a built-in or plug-in
    metric (the plug-ins are loaded first)."""
    from stabn_bench.metrics.catalog import selectable_metric_names

    load_metrics_plugins(cfg)
    valid = selectable_metric_names()
    for key, names in (("metrics.metrics", cfg.metrics), ("metrics.in_domain.metrics", cfg.in_domain.metrics)):
        unknown = [name for name in names if name != "all" and name not in valid]
        if unknown:
            raise ConfigError(
                f"config key '{key}' names unknown metric {unknown[0]!r}; valid: all, {', '.join(valid)}"
                + did_you_mean(unknown[0], valid)
            )


def check_method_names(cfg: "ExplainConfig") -> None:
    """Every name in ``explain.methods`` and ``explain.options`` is a registered method, and every option is one
    the method accepts (the shared ``batch_size`` is set by ``explain.batch_size``, not per method)."""
    from stabn_bench import baselines

    load_method_plugins(cfg)
    known = baselines.available_methods()
    for name in cfg.methods:
        if name != baselines.ALL and name not in known:
            raise ConfigError(
                f"config key 'explain.methods' names unknown method {name!r}; valid: all, {', '.join(known)}"
                + did_you_mean(name, known)
            )
    shared = set(baselines.registry.SHARED_OPTIONS)
    for name, options in cfg.options.items():
        if name not in known:
            raise ConfigError(f"config key 'explain.options.{name}' names unknown method {name!r}; valid: "
                              f"{', '.join(known)}" + did_you_mean(name, known))
        spec = baselines.get_method(name)
        valid = sorted(set(spec.defaults) - shared)
        for option in options:
            if option in shared:
                raise ConfigError(f"config key 'explain.options.{name}.{option}': '{option}' is shared by every "
                                  f"method; set explain.{option} instead")
            if option not in valid and not spec.accepts_any_option:
                raise ConfigError(
                    f"config key 'explain.options.{name}.{option}': method '{name}' has no option {option!r}; "
                    f"valid options: {', '.join(valid) or 'none'}" + did_you_mean(option, valid)
                )


def check_in_domain_names(cfg: "RunConfig") -> None:
    """Every name in ``metrics.in_domain.methods`` is ``all`` or a registered method, plug-ins included (call after
    :func:`check_method_names` loaded them), so a typo is refused before any model is fine-tuned (the in-domain
    metrics are checked by :func:`check_metric_names`)."""
    from stabn_bench import baselines

    known = baselines.available_methods()
    for name in cfg.metrics.in_domain.methods:
        if name != baselines.ALL and name not in known:
            raise ConfigError(f"config key 'metrics.in_domain.methods' names unknown method {name!r}; valid: all, "
                              f"{', '.join(known)}" + did_you_mean(name, known))


def check_names(cfg: "RunConfig") -> None:
    """Load the plug-ins a run config names and check all its method, option and metric names, the in-domain
    ones included (ConfigError)."""
    check_method_names(cfg.explain)
    check_metric_names(cfg.metrics)
    check_in_domain_names(cfg)
