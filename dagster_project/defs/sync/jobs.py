"""The sync's jobs: the whole pipeline in one run, or fanned out (one sync run per bucket, then
one run for the rest). Their partitions are the sync asset's buckets (Dagster takes them from
the assets they select)."""

from dagster import AssetSelection, define_asset_job

from dagster_project.defs.dbt.assets import DBT_BUILD_TAGS
from dagster_project.defs.meter_logs.jobs import DAILY_LOGS
from dagster_project.defs.sync.assets import METER_SYNC_SNAPSHOTS

FLEET_SYNC = AssetSelection.assets(METER_SYNC_SNAPSHOTS)

flows_pipeline_job = define_asset_job(
    name="flows_pipeline",
    selection=AssetSelection.all() - DAILY_LOGS,
    tags=DBT_BUILD_TAGS,
    description=(
        "Load the registry, sync every meter, push tariffs and tokens, then build and test the "
        "dbt models. Run it over all buckets (the schedule does) to sync the whole fleet."
    ),
)

fleet_sync_job = define_asset_job(
    name="fleet_sync",
    selection=FLEET_SYNC,
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
