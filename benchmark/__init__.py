"""stabn-bench: train ST-ABN and baselines, explain their predictions, score the explanations, report."""

if __name__ != "stabn_bench.benchmark":  # the repository folder imported under its bare name (e.g. from the repo root)
    raise ImportError(f"import this package as 'stabn_bench.benchmark', not {__name__!r} (install the project: bash scripts/setup_env.sh)")


__version__ = "0.1.0"
