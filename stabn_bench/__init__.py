"""stabn-bench: train ST-ABN and baselines, explain their predictions, score the explanations, report.

One import name with three sub-packages (kept as top-level folders in the repository):

- :mod:`stabn_bench.benchmark` — CLI, configs, data, models, training, orchestration, report and plots;
- :mod:`stabn_bench.baselines` — explanation methods (one registry; ST-ABN attention, Captum, controls);
- :mod:`stabn_bench.metrics` — scoring, pure functions over tensors.
"""

__version__ = "0.1.0"
