"""stabn-bench: train ST-ABN and baselines, explain their predictions, score the explanations, report."""

__version__ = "0.1.0"
