"""The fleet sync every 15 minutes.

The sync comes in two forms, one of them on by default (FLOWS_SYNC_FAN_OUT picks which):
the whole pipeline in one run, or one sync run per bucket for run workers to share, which the
cycle sensor (fan_out.py) follows with one run of the rest. Switching both on would read every
meter twice a cycle.
"""

from __future__ import annotations

from datetime import UTC

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    StaticPartitionsDefinition,
    schedule,
)

from dagster_project.defs.sync.assets import all_buckets_tags
from dagster_project.defs.sync.jobs import fleet_sync_job, flows_pipeline_job
from dagster_project.domain.fleet_buckets import BUCKET_TAG, CYCLE_TAG

SYNC_CRON = "*/15 * * * *"


def _status(on: bool) -> DefaultScheduleStatus:
    return DefaultScheduleStatus.RUNNING if on else DefaultScheduleStatus.STOPPED


def cycle_of(context: ScheduleEvaluationContext) -> str:
    """The tick's time, which names the cycle its runs belong to."""
    return context.scheduled_execution_time.astimezone(UTC).isoformat()


def build_schedules(
    partitions: StaticPartitionsDefinition, fan_out: bool
) -> list[ScheduleDefinition]:
    """Both forms of the 15-minute sync, the one `fan_out` picks running by default."""

    @schedule(
        name="fleet_sync_every_15_minutes",
        job=flows_pipeline_job,
        cron_schedule=SYNC_CRON,
        execution_timezone="UTC",
        default_status=_status(not fan_out),
        description="The whole pipeline over every bucket, in one run.",
    )
    def fleet_sync_schedule(context: ScheduleEvaluationContext) -> RunRequest:
        return RunRequest(run_key=cycle_of(context), tags=all_buckets_tags(partitions))

    @schedule(
        name="fleet_sync_fanned_out_every_15_minutes",
        job=fleet_sync_job,
        cron_schedule=SYNC_CRON,
        execution_timezone="UTC",
        default_status=_status(fan_out),
        description=(
            "One sync run per bucket; once all have finished, the cycle sensor starts the rest."
        ),
    )
    def fanned_out_sync_schedule(context: ScheduleEvaluationContext) -> list[RunRequest]:
        cycle = cycle_of(context)
        return [
            RunRequest(
                run_key=f"{cycle}/{key}",
                partition_key=key,
                tags={CYCLE_TAG: cycle, BUCKET_TAG: key},
            )
            for key in partitions.get_partition_keys()
        ]

    return [fleet_sync_schedule, fanned_out_sync_schedule]
