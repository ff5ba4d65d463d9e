"""Explanation methods: one registry for ST-ABN attention, Captum baselines and control methods."""
