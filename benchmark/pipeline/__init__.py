"""Orchestration of ``stabn-bench run``: data -> train -> accuracy -> explain + score -> report.

Only orchestration lives here (what runs when, caching, resuming, sharding across ranks); the math is in
``metrics/``, the methods in ``baselines/``, the models and training in ``benchmark.models`` / ``benchmark.training``.
"""
