"""Great Expectations suites on the raw sync snapshots as asset checks: a broken structure blocks
the marts, implausible values warn. Each checks the syncs its run landed (one per bucket), else
those of the latest run."""

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

from dagster_project.quality import raw_expectations as rx
from dagster_project.warehouse.raw_tables import METER_SYNC_SNAPSHOTS as SNAPSHOTS_TABLE
from dagster_project.warehouse.sync_store import NO_SYNC, syncs_to_check

from .resources import WarehouseResource
from .sync import METER_SYNC_SNAPSHOTS

# Converted by PostgreSQL to what the suites compare anyway: building UUID and Decimal objects
# in Python, then converting them, costs more than the query on a sync of 100,000 meters.
_CASTS = {"meter_id": "text", "balance": "float8", "voltage": "float8"}


@dataclass(frozen=True)
class SyncRows:
    """The rows of the syncs a check looks at, and why those syncs."""

    sync_ids: list[uuid.UUID]
    chosen: str
    frame: pd.DataFrame


def read_syncs(
    conn: psycopg.Connection, sync_ids: Sequence[uuid.UUID], columns: Sequence[str]
) -> pd.DataFrame:
    """The syncs' snapshot rows, only the given columns."""
    query = sql.SQL("select {} from {} where sync_id = any(%s)").format(
        sql.SQL(", ").join(map(_select_item, columns)), SNAPSHOTS_TABLE.identifier
    )
    with conn.cursor() as cursor:
        cursor.execute(query, (list(sync_ids),))
        return pd.DataFrame(cursor.fetchall(), columns=list(columns))


def _select_item(column: str) -> sql.Composable:
    if column not in _CASTS:
        return sql.Identifier(column)
    return sql.SQL("{}::{} as {}").format(
        sql.Identifier(column), sql.SQL(_CASTS[column]), sql.Identifier(column)
    )


def load_rows(warehouse: WarehouseResource, run_id: str, columns: Sequence[str]) -> SyncRows:
    with warehouse.connect() as conn:
        sync_ids, chosen = syncs_to_check(conn, run_id)
        if not sync_ids:
            return SyncRows([], chosen, pd.DataFrame(columns=list(columns)))
        return SyncRows(sync_ids, chosen, read_syncs(conn, sync_ids, columns))


def check_result(
    rows: SyncRows, result: rx.SuiteResult, severity: AssetCheckSeverity
) -> AssetCheckResult:
    subject = _syncs_named(rows.sync_ids)
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
            "sync_ids": ", ".join(map(str, rows.sync_ids)) or "none",
            "sync_chosen": rows.chosen,
            "rows_checked": result.rows,
            "expectations": len(result.results),
            "expectations_failed": len(result.failures),
            "failures": MetadataValue.md(rx.failures_markdown(result)),
            "failures_json": MetadataValue.json(failures),
            "validation_seconds": round(result.seconds, 2),
        },
    )


def _syncs_named(sync_ids: Sequence[uuid.UUID]) -> str:
    if not sync_ids:
        return NO_SYNC
    if len(sync_ids) == 1:
        return f"sync {sync_ids[0]}"
    return f"{len(sync_ids)} syncs (one per bucket)"


def run_suite(
    context: AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    suite: str,
    severity: AssetCheckSeverity,
) -> AssetCheckResult:
    rows = load_rows(warehouse, context.run.run_id, rx.columns_read(suite))
    result = rx.validate(rows.frame, suite, now=datetime.now(UTC))
    context.log.info(
        "%s on %s (%s): %s", suite, _syncs_named(rows.sync_ids), rows.chosen, result.summary()
    )
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
