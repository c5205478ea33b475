"""The sync's jobs: the whole pipeline in one run, or fanned out (one sync run per bucket, then
one run for the rest)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import (
    AssetSelection,
    StaticPartitionsDefinition,
    define_asset_job,
)

from dagster_project.defs.dbt.assets import DBT_BUILD_TAGS
from dagster_project.defs.meter_logs.jobs import DAILY_LOGS
from dagster_project.defs.sync.assets import METER_SYNC_SNAPSHOTS

if TYPE_CHECKING:  # Dagster does not export the type define_asset_job returns
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

FLEET_SYNC = AssetSelection.assets(METER_SYNC_SNAPSHOTS)

flows_transform_job = define_asset_job(
    name="flows_transform",
    selection=AssetSelection.all() - DAILY_LOGS - FLEET_SYNC,
    tags=DBT_BUILD_TAGS,
    description=(
        "What follows the fanned-out syncs of a cycle: load the registry, push tariffs and "
        "tokens, build and test the dbt models."
    ),
)


def build_pipeline_job(partitions: StaticPartitionsDefinition) -> UnresolvedAssetJobDefinition:
    return define_asset_job(
        name="flows_pipeline",
        selection=AssetSelection.all() - DAILY_LOGS,
        partitions_def=partitions,
        tags=DBT_BUILD_TAGS,
        description=(
            "Load the registry, sync every meter, push tariffs and tokens, then build and test "
            "the dbt models. Run it over all buckets (the schedule does) to sync the whole fleet."
        ),
    )


def build_fleet_sync_job(partitions: StaticPartitionsDefinition) -> UnresolvedAssetJobDefinition:
    return define_asset_job(
        name="fleet_sync",
        selection=FLEET_SYNC,
        partitions_def=partitions,
        description="Sync the meters of one bucket (a fanned-out cycle runs one per bucket).",
    )
