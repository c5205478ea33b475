"""The energy job: the marts built from the daily logs, run as soon as the logs have landed.
(The pipeline's every-15-minutes dbt build keeps them current too; this one saves the wait.)"""

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunStatusSensorContext,
    define_asset_job,
    run_status_sensor,
)

from dagster_project.defs.meter_logs.jobs import DAILY_LOGS, daily_logs_job

#: Every dbt model downstream of the logs: the energy marts and the named event log (not the
#: loads ledger, which the log assets write themselves).
ENERGY_MARTS = DAILY_LOGS.downstream(include_self=False).materializable()

energy_marts_job = define_asset_job(
    name="energy_marts",
    selection=ENERGY_MARTS,
    description=(
        "Build the half-hourly energy marts (validated and estimated) and the named event log "
        "from the profile and event logs landed so far, and check them."
    ),
)


@run_status_sensor(
    name="energy_marts_after_daily_logs",
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[daily_logs_job],
    request_job=energy_marts_job,
    default_status=DefaultSensorStatus.RUNNING,
    description="Builds the energy marts once a day's logs have landed.",
)
def energy_after_logs(context: RunStatusSensorContext) -> RunRequest:
    return RunRequest(run_key=context.dagster_run.run_id)
