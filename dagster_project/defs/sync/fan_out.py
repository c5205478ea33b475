"""The cycle sensor of a fanned-out sync: once every bucket's sync run of a cycle has finished,
one run loads the registry, pushes tariffs and tokens and builds the dbt models.

One build per cycle, after all of it, because dbt builds must not overlap and the marts should
show a whole cycle rather than the buckets that happened to finish first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    StaticPartitionsDefinition,
    sensor,
)

from dagster_project.defs.sync.jobs import fleet_sync_job, flows_transform_job
from dagster_project.domain.fleet_buckets import (
    BUCKET_TAG,
    CYCLE_TAG,
    BucketRun,
    newest_complete_cycle,
)

#: A cycle whose bucket runs are older than this is not waited for any more.
CYCLE_HORIZON = timedelta(hours=2)
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


def build_cycle_sensor(partitions: StaticPartitionsDefinition) -> SensorDefinition:
    """The sensor that follows a fanned-out cycle of the sync's runs over `partitions`."""

    @sensor(
        name="transform_after_fanned_out_sync",
        job=flows_transform_job,
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description=(
            "Starts flows_transform once every bucket's fleet_sync run of a cycle has finished "
            "(failed ones included). Idle unless the fanned-out schedule is on. The cursor is the "
            "latest cycle built."
        ),
    )
    def transform_after_fanned_out_sync(
        context: SensorEvaluationContext,
    ) -> SensorResult | SkipReason:
        records = context.instance.get_run_records(
            filters=RunsFilter(
                job_name=fleet_sync_job.name, created_after=datetime.now(UTC) - CYCLE_HORIZON
            )
        )
        runs = [
            BucketRun(
                cycle=record.dagster_run.tags[CYCLE_TAG],
                bucket=record.dagster_run.tags.get(BUCKET_TAG, ""),
                finished=record.dagster_run.status in FINISHED,
            )
            for record in records
            if CYCLE_TAG in record.dagster_run.tags
        ]
        cycle = newest_complete_cycle(runs, partitions.get_partition_keys(), after=context.cursor)
        if cycle is None:
            waiting = sorted({run.cycle for run in runs if not run.finished})
            return SkipReason(
                f"Waiting for the bucket runs of cycle {', '.join(waiting)}."
                if waiting
                else "No fanned-out cycle to build."
            )
        return SensorResult(
            run_requests=[RunRequest(run_key=f"transform/{cycle}", tags={CYCLE_TAG: cycle})],
            cursor=cycle,
        )

    return transform_after_fanned_out_sync
