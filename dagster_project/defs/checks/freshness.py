"""Freshness of the sync and the marts: stale when nothing has been synced (or built) for two
sync cycles, and the sensor that evaluates those checks."""

from dagster_project.defs.checks.fleet import freshness_checks, freshness_sensor
from dagster_project.defs.dbt.assets import flows_dbt_models

stale_checks = freshness_checks(flows_dbt_models)
freshness_checks_sensor = freshness_sensor(stale_checks)
