"""Great Expectations suites on the raw sync snapshots as asset checks: a broken structure blocks
the marts, implausible values warn. Each checks the sync its run landed, else the latest one."""

# No `from __future__ import annotations`: Dagster reads the check functions' hints at runtime.
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import pandas as pd
import psycopg
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)
from psycopg import sql

from dagster_project.fleet_sync import sync_id_for_run
from dagster_project.quality import raw_expectations as rx
from dagster_project.warehouse.raw_tables import METER_SYNC_SNAPSHOTS as SNAPSHOTS_TABLE
from dagster_project.warehouse.raw_tables import METER_SYNCS, RAW_SCHEMA

from .resources import WarehouseResource
from .sync import METER_SYNC_SNAPSHOTS

LANDED_BY_THIS_RUN = "landed by this run"
LATEST = "the latest sync (this run landed none)"
NO_SYNC = "no sync landed yet"
# Converted by PostgreSQL to what the suites compare anyway: building UUID and Decimal objects
# in Python, then converting them, costs more than the query on a sync of 100,000 meters.
_CASTS = {"meter_id": "text", "balance": "float8", "voltage": "float8"}


@dataclass(frozen=True)
class SyncRows:
    """The rows of the sync a check looks at, and why that sync."""

    sync_id: uuid.UUID | None
    chosen: str
    frame: pd.DataFrame


def sync_to_check(conn: psycopg.Connection, run_id: str) -> tuple[uuid.UUID | None, str]:
    """The sync this run landed; run alone (e.g. from the UI), the latest sync."""
    # Run alone on a database no sync ever wrote to, the tables may not exist yet.
    exists = conn.execute("select to_regclass(%s)", (f"{RAW_SCHEMA}.{METER_SYNCS.name}",))
    if exists.fetchone()[0] is None:
        return None, NO_SYNC
    own = sync_id_for_run(run_id)
    landed = conn.execute(
        sql.SQL("select 1 from {} where sync_id = %s").format(METER_SYNCS.identifier), (own,)
    ).fetchone()
    if landed:
        return own, LANDED_BY_THIS_RUN
    latest = conn.execute(
        sql.SQL("select sync_id from {} order by finished_at desc limit 1").format(
            METER_SYNCS.identifier
        )
    ).fetchone()
    return (latest[0], LATEST) if latest else (None, NO_SYNC)


def read_sync(conn: psycopg.Connection, sync_id: uuid.UUID, columns: Sequence[str]) -> pd.DataFrame:
    """One sync's snapshot rows, only the given columns."""
    query = sql.SQL("select {} from {} where sync_id = %s").format(
        sql.SQL(", ").join(map(_select_item, columns)), SNAPSHOTS_TABLE.identifier
    )
    with conn.cursor() as cursor:
        cursor.execute(query, (sync_id,))
        return pd.DataFrame(cursor.fetchall(), columns=list(columns))


def _select_item(column: str) -> sql.Composable:
    if column not in _CASTS:
        return sql.Identifier(column)
    return sql.SQL("{}::{} as {}").format(
        sql.Identifier(column), sql.SQL(_CASTS[column]), sql.Identifier(column)
    )


def load_rows(warehouse: WarehouseResource, run_id: str, columns: Sequence[str]) -> SyncRows:
    with warehouse.connect() as conn:
        sync_id, chosen = sync_to_check(conn, run_id)
        if sync_id is None:
            return SyncRows(None, chosen, pd.DataFrame(columns=list(columns)))
        return SyncRows(sync_id, chosen, read_sync(conn, sync_id, columns))


def check_result(
    rows: SyncRows, result: rx.SuiteResult, severity: AssetCheckSeverity
) -> AssetCheckResult:
    subject = f"sync {rows.sync_id}" if rows.sync_id else NO_SYNC
    failures = [
        {
            "expectation": failure.name,
            "expectation_type": failure.expectation_type,
            "description": failure.description,
            "unexpected_count": failure.unexpected_count,
            "error": failure.error,
            "sample": [asdict(bad) for bad in failure.sample],
        }
        for failure in result.failures
    ]
    return AssetCheckResult(
        passed=result.passed,
        severity=severity,
        description=f"{subject}: {result.summary()}",
        metadata={
            "sync_id": str(rows.sync_id) if rows.sync_id else "none",
            "sync_chosen": rows.chosen,
            "rows_checked": result.rows,
            "expectations": len(result.results),
            "expectations_failed": len(result.failures),
            "failures": MetadataValue.md(rx.failures_markdown(result)),
            "failures_json": MetadataValue.json(failures),
            "validation_seconds": round(result.seconds, 2),
        },
    )


def run_suite(
    context: AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    suite: str,
    severity: AssetCheckSeverity,
) -> AssetCheckResult:
    rows = load_rows(warehouse, context.run.run_id, rx.columns_read(suite))
    result = rx.validate(rows.frame, suite, now=datetime.now(UTC))
    context.log.info("%s on sync %s (%s): %s", suite, rows.sync_id, rows.chosen, result.summary())
    return check_result(rows, result, severity)


@asset_check(
    asset=METER_SYNC_SNAPSHOTS,
    name=rx.STRUCTURE_SUITE,
    blocking=True,
    description=(
        "The sync's rows are well formed: serial EML + 10 digits, CSQ 0-31, no time in the "
        "future, complete numeric tariff JSON, one row per meter, a known outcome, a balance on "
        "every ok row. Failing blocks the marts downstream in the same run."
    ),
)
def raw_snapshots_structure(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    return run_suite(context, warehouse, rx.STRUCTURE_SUITE, AssetCheckSeverity.ERROR)


@asset_check(
    asset=METER_SYNC_SNAPSHOTS,
    name=rx.PLAUSIBILITY_SUITE,
    description=(
        f"The sync's values are plausible: at most {rx.MAX_FAILED_SHARE:.0%} of polled meters "
        f"failed, balances within {rx.BALANCE_RANGE_GBP[0]}..{rx.BALANCE_RANGE_GBP[1]} GBP, "
        f"voltages within {rx.VOLTAGE_RANGE[0]}..{rx.VOLTAGE_RANGE[1]} V. Warns only."
    ),
)
def raw_snapshots_plausible(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    return run_suite(context, warehouse, rx.PLAUSIBILITY_SUITE, AssetCheckSeverity.WARN)


raw_snapshot_checks = [raw_snapshots_structure, raw_snapshots_plausible]
