"""Raw snapshot retention: a daily job that drops the months of snapshots past the retention
period and makes sure the coming months' partitions exist."""

from datetime import UTC, datetime

import psycopg
from dagster import (
    Config,
    DefaultScheduleStatus,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)
from pydantic import Field

from dagster_project.defs.resources import WarehouseResource, database_failure
from dagster_project.warehouse import partitions
from dagster_project.warehouse.raw_tables import (
    METER_SYNC_SNAPSHOTS,
    RAW_SCHEMA,
    ensure_raw_tables,
)


class RetentionConfig(Config):
    keep_months: int = Field(
        13,
        ge=1,
        description=(
            "Whole months of raw snapshots kept before the current one. The history marts keep "
            "every change for good; a full refresh of them afterwards rebuilds only what is kept."
        ),
    )


@op(description="Drop raw snapshot months past retention; create the coming months' partitions.")
def prune_raw_snapshots(
    context: OpExecutionContext, config: RetentionConfig, warehouse: WarehouseResource
) -> None:
    today = datetime.now(UTC).date()
    keep_from = partitions.add_months(partitions.month_start(today), -config.keep_months)
    table = METER_SYNC_SNAPSHOTS
    try:
        with warehouse.connect() as conn:
            conn.autocommit = True
            ensure_raw_tables(conn, today)
            if not partitions.is_partitioned(conn, RAW_SCHEMA, table.name):
                context.log.warning(
                    "flows_raw.%s is not partitioned (created by an earlier version): run "
                    "`flows db partition` between syncs to convert it; nothing dropped",
                    table.name,
                )
                return
            assert table.partition_by is not None
            dropped, deleted = partitions.drop_expired_partitions(
                conn, RAW_SCHEMA, table.name, table.partition_by, keep_from
            )
    except psycopg.OperationalError as error:
        raise database_failure(warehouse, "prune raw snapshots in", error) from error
    context.log.info(
        "kept raw snapshots from %s: dropped %d month partition(s) %s, deleted %d older row(s) "
        "from the default partition",
        keep_from, len(dropped), ", ".join(dropped) or "", deleted,
    )  # fmt: skip


@job(description="Drop raw snapshot months past retention (default 13 months).")
def raw_retention() -> None:
    prune_raw_snapshots()


raw_retention_schedule = ScheduleDefinition(
    name="raw_retention_daily_0300_uk",
    job=raw_retention,
    cron_schedule="0 3 * * *",
    execution_timezone="Europe/London",
    default_status=DefaultScheduleStatus.RUNNING,
)
