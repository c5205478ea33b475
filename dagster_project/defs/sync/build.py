"""The fleet sync feature, built from the deployment's settings: how many buckets the fleet is
split into, and which form of the 15-minute sync runs by default, are settings, and the
partitions, the sync asset, the schedules and the cycle sensor follow from them. (The jobs,
defs/sync/jobs.py, take their partitions from the asset.)"""

from __future__ import annotations

from dataclasses import dataclass

from dagster import (
    AssetsDefinition,
    Definitions,
    ScheduleDefinition,
    SensorDefinition,
    StaticPartitionsDefinition,
)

from dagster_project.defs.sync.assets import all_buckets_tags, build_meter_sync, sync_partitions
from dagster_project.defs.sync.fan_out import build_cycle_sensor
from dagster_project.defs.sync.schedules import build_schedules
from dagster_project.settings import Settings


@dataclass(frozen=True)
class FleetSync:
    """Every settings-dependent definition of the sync for one bucket count and fan-out choice."""

    partitions: StaticPartitionsDefinition
    meter_sync: AssetsDefinition
    schedules: list[ScheduleDefinition]
    cycle_sensor: SensorDefinition

    def all_buckets_tags(self) -> dict[str, str]:
        return all_buckets_tags(self.partitions)

    def schedule(self, name: str) -> ScheduleDefinition:
        return next(schedule for schedule in self.schedules if schedule.name == name)

    def definitions(self) -> Definitions:
        return Definitions(
            assets=[self.meter_sync], schedules=self.schedules, sensors=[self.cycle_sensor]
        )


def build_fleet_sync(settings: Settings) -> FleetSync:
    partitions = sync_partitions(settings.sync_buckets)
    return FleetSync(
        partitions=partitions,
        meter_sync=build_meter_sync(partitions),
        schedules=build_schedules(partitions, fan_out=settings.sync_fan_out),
        cycle_sensor=build_cycle_sensor(partitions),
    )
