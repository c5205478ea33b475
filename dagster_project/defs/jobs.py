"""Jobs: the whole pipeline in one run, or fanned out (one sync run per bucket, then one run
for the rest), and the daily meter logs."""

from dagster import AssetSelection, define_asset_job

from .logs import METER_EVENT_LOG, PROFILE_LOG_1, daily_partitions
from .sync import METER_SYNC_SNAPSHOTS, sync_buckets

DAILY_LOGS = AssetSelection.assets(PROFILE_LOG_1, METER_EVENT_LOG)
FLEET_SYNC = AssetSelection.assets(METER_SYNC_SNAPSHOTS)

#: Runs that build the dbt models carry this tag, so that deploy/dagster.yaml lets one at a time
#: through: two dbt builds at once would replace the same tables under each other.
DBT_BUILD_TAGS = {"flows/dbt": "build"}

flows_pipeline_job = define_asset_job(
    name="flows_pipeline",
    selection=AssetSelection.all() - DAILY_LOGS,
    partitions_def=sync_buckets,
    tags=DBT_BUILD_TAGS,
    description=(
        "Load the registry, sync every meter, push tariffs and tokens, then build and test the "
        "dbt models. Run it over all buckets (the schedule does) to sync the whole fleet."
    ),
)

fleet_sync_job = define_asset_job(
    name="fleet_sync",
    selection=FLEET_SYNC,
    partitions_def=sync_buckets,
    description="Sync the meters of one bucket (a fanned-out cycle runs one per bucket).",
)

flows_transform_job = define_asset_job(
    name="flows_transform",
    selection=AssetSelection.all() - DAILY_LOGS - FLEET_SYNC,
    tags=DBT_BUILD_TAGS,
    description=(
        "What follows the fanned-out syncs of a cycle: load the registry, push tariffs and "
        "tokens, build and test the dbt models."
    ),
)

daily_logs_job = define_asset_job(
    name="daily_logs",
    selection=DAILY_LOGS,
    partitions_def=daily_partitions,
    description="Download one UTC day of profile log 1 and the event log from every meter.",
)
