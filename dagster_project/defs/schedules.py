"""Schedules: the fleet sync every 15 minutes, yesterday's logs at 01:30 UK time.

Both run by default once the daemon runs (`make dev`).
"""

from datetime import UTC, datetime, timedelta

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    schedule,
)

from .jobs import daily_logs_job, flows_pipeline_job

fleet_sync_schedule = ScheduleDefinition(
    name="fleet_sync_every_15_minutes",
    job=flows_pipeline_job,
    cron_schedule="*/15 * * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)


def previous_utc_day(moment: datetime) -> str:
    """The partition key of the UTC day before the one `moment` falls in."""
    return (moment.astimezone(UTC).date() - timedelta(days=1)).isoformat()


@schedule(
    name="daily_logs_at_0130_uk",
    job=daily_logs_job,
    cron_schedule="30 1 * * *",
    execution_timezone="Europe/London",
    default_status=DefaultScheduleStatus.RUNNING,
)
def daily_logs_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    # 01:30 in London is 00:30 or 01:30 UTC: the UTC day before is complete either way.
    partition_key = previous_utc_day(context.scheduled_execution_time)
    return RunRequest(run_key=partition_key, partition_key=partition_key)
