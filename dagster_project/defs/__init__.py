"""Dagster wiring only: assets, resources, jobs, one module per concern."""
