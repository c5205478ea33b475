"""The fleet sync feature, built from the deployment's settings: how many buckets the fleet is
split into, and which form of the 15-minute sync runs by default, are settings, and the
partitions, jobs, schedules and sensor follow from them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dagster import (
    AssetsDefinition,
    Definitions,
    ScheduleDefinition,
    SensorDefinition,
    StaticPartitionsDefinition,
)

from dagster_project.defs.sync.assets import all_buckets_tags, build_meter_sync, sync_partitions
from dagster_project.defs.sync.fan_out import build_cycle_sensor
from dagster_project.defs.sync.jobs import build_fleet_sync_job, build_pipeline_job
from dagster_project.defs.sync.schedules import build_schedules
from dagster_project.settings import Settings

if TYPE_CHECKING:  # Dagster does not export the type define_asset_job returns
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


@dataclass(frozen=True)
class FleetSync:
    """Every definition of the sync for one bucket count and fan-out choice."""

    partitions: StaticPartitionsDefinition
    meter_sync: AssetsDefinition
    pipeline_job: UnresolvedAssetJobDefinition
    fleet_sync_job: UnresolvedAssetJobDefinition
    schedules: list[ScheduleDefinition]
    cycle_sensor: SensorDefinition

    def all_buckets_tags(self) -> dict[str, str]:
        return all_buckets_tags(self.partitions)

    def schedule(self, name: str) -> ScheduleDefinition:
        return next(schedule for schedule in self.schedules if schedule.name == name)

    def definitions(self) -> Definitions:
        return Definitions(
            assets=[self.meter_sync],
            jobs=[self.pipeline_job, self.fleet_sync_job],
            schedules=self.schedules,
            sensors=[self.cycle_sensor],
        )


def build_fleet_sync(settings: Settings) -> FleetSync:
    partitions = sync_partitions(settings.sync_buckets)
    pipeline_job = build_pipeline_job(partitions)
    fleet_sync_job = build_fleet_sync_job(partitions)
    return FleetSync(
        partitions=partitions,
        meter_sync=build_meter_sync(partitions),
        pipeline_job=pipeline_job,
        fleet_sync_job=fleet_sync_job,
        schedules=build_schedules(
            pipeline_job, fleet_sync_job, partitions, fan_out=settings.sync_fan_out
        ),
        cycle_sensor=build_cycle_sensor(fleet_sync_job, partitions),
    )
