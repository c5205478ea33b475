"""Work over the EMOP client and the warehouse, without Dagster: sync, logs, write path."""
