"""Jobs: the fleet sync with everything built on it, and the daily meter logs."""

from dagster import AssetSelection, define_asset_job

from .logs import METER_EVENT_LOG, PROFILE_LOG_1, daily_partitions

DAILY_LOGS = AssetSelection.assets(PROFILE_LOG_1, METER_EVENT_LOG)

flows_pipeline_job = define_asset_job(
    name="flows_pipeline",
    selection=AssetSelection.all() - DAILY_LOGS,
    description="Load the registry, sync every meter, then build and test the dbt models.",
)

daily_logs_job = define_asset_job(
    name="daily_logs",
    selection=DAILY_LOGS,
    partitions_def=daily_partitions,
    description="Download one UTC day of profile log 1 and the event log from every meter.",
)
