"""Dagster wiring, one folder per feature (registry, sync, meter_logs, writes, checks, alerts,
retention, dbt), each holding its assets, checks, jobs, schedules and sensors; resources.py is
shared. definitions.py loads every object found here: adding one needs no list edited."""
