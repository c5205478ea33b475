"""The daily meter logs' job, and its schedule: yesterday's logs at 01:30 UK time."""

from datetime import UTC, datetime, timedelta

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)

from dagster_project.defs.meter_logs.assets import METER_EVENT_LOG, PROFILE_LOG_1, PROFILE_LOG_2

DAILY_LOGS = AssetSelection.assets(PROFILE_LOG_1, PROFILE_LOG_2, METER_EVENT_LOG)

daily_logs_job = define_asset_job(
    name="daily_logs",
    selection=DAILY_LOGS,  # partitioned by UTC day, as its assets are
    description=(
        "Download one UTC day of profile logs 1 and 2 (log 2 after log 1) and the event log "
        "from every meter."
    ),
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
