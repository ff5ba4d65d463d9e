"""Metrics: pure functions over tensors scoring explanations, plus one batched perturbation engine."""
