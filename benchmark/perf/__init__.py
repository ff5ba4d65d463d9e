"""Benchmarks behind ``stabn-bench perf TARGET``: one module per target, each with ``register(subparsers)``."""
