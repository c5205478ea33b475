"""The one Definitions object of the code location, assembled from defs/."""

from dagster import Definitions

from dagster_project.defs.dbt import flows_dbt_models
from dagster_project.defs.fan_out import transform_after_fanned_out_sync
from dagster_project.defs.fleet_checks import (
    CheckThresholds,
    fleet_health_checks,
    freshness_checks,
    freshness_sensor,
)
from dagster_project.defs.jobs import (
    daily_logs_job,
    fleet_sync_job,
    flows_pipeline_job,
    flows_transform_job,
)
from dagster_project.defs.logs import meter_event_log, profile_log_1
from dagster_project.defs.raw_checks import raw_snapshot_checks
from dagster_project.defs.registry import meter_registry_raw
from dagster_project.defs.resources import EmopSettings, WarehouseResource, dbt_resource
from dagster_project.defs.retention import raw_retention, raw_retention_schedule
from dagster_project.defs.schedules import (
    daily_logs_schedule,
    fanned_out_sync_schedule,
    fleet_sync_schedule,
)
from dagster_project.defs.sensors import meter_alerts_sensor
from dagster_project.defs.sync import meter_sync
from dagster_project.defs.write_checks import write_checks
from dagster_project.defs.writes import OPERATOR_INPUTS, meter_writes

stale_checks = freshness_checks(flows_dbt_models)

defs = Definitions(
    assets=[
        meter_registry_raw,
        meter_sync,
        meter_writes,
        *OPERATOR_INPUTS,
        profile_log_1,
        meter_event_log,
        flows_dbt_models,
    ],
    asset_checks=[*raw_snapshot_checks, *fleet_health_checks, *write_checks, *stale_checks],
    jobs=[flows_pipeline_job, fleet_sync_job, flows_transform_job, daily_logs_job, raw_retention],
    schedules=[
        fleet_sync_schedule,
        fanned_out_sync_schedule,
        daily_logs_schedule,
        raw_retention_schedule,
    ],
    sensors=[
        meter_alerts_sensor,
        transform_after_fanned_out_sync,
        freshness_sensor(stale_checks),
    ],
    resources={
        "warehouse": WarehouseResource(),
        "emop": EmopSettings(),
        "dbt": dbt_resource(),
        "check_thresholds": CheckThresholds(),
    },
)
