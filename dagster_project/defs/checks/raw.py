"""Great Expectations suites on the raw sync snapshots as asset checks: a broken structure blocks
the marts, implausible values warn. Each checks the syncs its run landed (one per bucket), else
those of the latest run, and records its verdict on each of them (warehouse/sync_verdicts.py).

Each also judges the syncs that still await its verdict because the run that landed them ended
without it (that run failed after landing some buckets, say): dbt staging does not read a sync
before it has passed the structure suite, so no build reads such rows unjudged. The check's own
pass or fail is about its run's syncs; the earlier ones' verdicts are in its metadata."""

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
    DagsterInstance,
    MetadataValue,
    asset_check,
)
from psycopg import sql

from dagster_project.defs.resources import WarehouseResource
from dagster_project.defs.sync.assets import METER_SYNC_SNAPSHOTS
from dagster_project.domain.rules import raw_expectations as rx
from dagster_project.warehouse.raw_tables import METER_SYNC_SNAPSHOTS as SNAPSHOTS_TABLE
from dagster_project.warehouse.raw_tables import ensure_raw_tables
from dagster_project.warehouse.sync_store import NO_SYNC, syncs_to_check
from dagster_project.warehouse.sync_verdicts import (
    Verdict,
    awaiting_judgement,
    record_verdicts,
    verdicts_table_exists,
)

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


#: At most this many earlier syncs are judged by one check (oldest first); the rest wait for the
#: next. A backlog builds up only where syncs land without their checks.
MAX_EARLIER_SYNCS = 64
#: Why a check judged syncs another run landed.
LEFT_UNJUDGED = "left unjudged by the run that landed them"


def earlier_rows(
    context: AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    suite: str,
    own: Sequence[uuid.UUID],
    columns: Sequence[str],
) -> list[SyncRows]:
    """The syncs awaiting this suite's verdict whose runs have ended, one group per run."""
    with warehouse.connect() as conn:
        groups = [
            group
            for group in awaiting_judgement(conn, suite, own, MAX_EARLIER_SYNCS)
            # A run still going judges its own syncs.
            if not run_in_progress(context.instance, group.run_id)
        ]
        return [
            SyncRows(group.sync_ids, LEFT_UNJUDGED, read_syncs(conn, group.sync_ids, columns))
            for group in groups
        ]


def run_in_progress(instance: DagsterInstance, run_id: str | None) -> bool:
    """Whether the run is known to this instance and not finished (a run of another instance,
    or none, has nothing left to do)."""
    run = instance.get_run_by_id(run_id) if run_id else None
    return run is not None and not run.is_finished


def check_result(
    rows: SyncRows,
    result: rx.SuiteResult,
    severity: AssetCheckSeverity,
    earlier: Sequence[tuple[SyncRows, rx.SuiteResult]] = (),
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
        description=f"{subject}: {result.summary()}{_earlier_note(earlier)}",
        metadata={
            "sync_ids": ", ".join(map(str, rows.sync_ids)) or "none",
            "sync_chosen": rows.chosen,
            "rows_checked": result.rows,
            "expectations": len(result.results),
            "expectations_failed": len(result.failures),
            "failures": MetadataValue.md(rx.failures_markdown(result)),
            "failures_json": MetadataValue.json(failures),
            "validation_seconds": round(result.seconds, 2),
            "earlier_syncs_judged": sum(len(group.sync_ids) for group, _ in earlier),
            "earlier_syncs_failed": ", ".join(
                str(sync_id)
                for group, outcome in earlier
                if not outcome.passed
                for sync_id in group.sync_ids
            )
            or "none",
        },
    )


def _earlier_note(earlier: Sequence[tuple[SyncRows, rx.SuiteResult]]) -> str:
    if not earlier:
        return ""
    judged = sum(len(group.sync_ids) for group, _ in earlier)
    failed = [
        sync_id for group, result in earlier if not result.passed for sync_id in group.sync_ids
    ]
    return f"; also judged {judged} earlier sync(s) {LEFT_UNJUDGED}: " + (
        f"{len(failed)} failed ({', '.join(map(str, failed))})" if failed else "all passed"
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
    columns = rx.columns_read(suite)
    rows = load_rows(warehouse, context.run.run_id, columns)
    earlier = earlier_rows(context, warehouse, suite, rows.sync_ids, columns)
    now = datetime.now(UTC)
    result = rx.validate(rows.frame, suite, now=now)
    context.log.info(
        "%s on %s (%s): %s", suite, _syncs_named(rows.sync_ids), rows.chosen, result.summary()
    )
    judged = [(group, rx.validate(group.frame, suite, now=now)) for group in earlier]
    for group, outcome in judged:
        log = context.log.info if outcome.passed else context.log.warning
        log("%s on %s %s: %s", suite, _syncs_named(group.sync_ids), group.chosen, outcome.summary())
    record(warehouse, context.run.run_id, suite, now, [(rows, result), *judged])
    return check_result(rows, result, severity, judged)


def record(
    warehouse: WarehouseResource,
    run_id: str,
    suite: str,
    now: datetime,
    judged: Sequence[tuple[SyncRows, rx.SuiteResult]],
) -> None:
    """The verdict on each sync judged, which dbt staging reads."""
    verdicts = [
        Verdict(
            sync_ids=rows.sync_ids,
            suite=suite,
            severity=rx.SUITE_SEVERITY[suite],
            passed=result.passed,
            summary=result.summary(),
            judged_at=now,
            judged_by_run=run_id,
        )
        for rows, result in judged
        if rows.sync_ids
    ]
    if not verdicts:
        return
    with warehouse.connect() as conn:
        # A database last written by an earlier version may lack the verdicts table; creating
        # it only then keeps the check clear of the DDL locks ensure_raw_tables takes.
        if not verdicts_table_exists(conn):
            ensure_raw_tables(conn)
        record_verdicts(conn, verdicts)


def _severity(suite: str) -> AssetCheckSeverity:
    return AssetCheckSeverity(rx.SUITE_SEVERITY[suite].upper())


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
    return run_suite(context, warehouse, rx.STRUCTURE_SUITE, _severity(rx.STRUCTURE_SUITE))


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
    return run_suite(context, warehouse, rx.PLAUSIBILITY_SUITE, _severity(rx.PLAUSIBILITY_SUITE))


raw_snapshot_checks = [raw_snapshots_structure, raw_snapshots_plausible]
