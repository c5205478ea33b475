"""The raw checks' verdicts on each sync: a landed sync awaits them, and the marts read it only
once it has passed every error-severity suite.

The fleet sync marks each sync it lands as awaiting a verdict of every suite, in the landing's
transaction. Each raw check records its verdict on the syncs it judged, and also judges the
syncs still awaiting one whose run ended without judging them (it failed after landing some
buckets, or was killed). dbt staging leaves out a sync while a verdict of error severity is
awaited or failed (dbt/models/staging/stg_flows_raw__meter_sync_snapshots.sql). A sync with no
verdict row at all (landed before verdicts were kept, or by hand) is read as before.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from dagster_project.warehouse.raw_tables import METER_SYNC_VERDICTS, METER_SYNCS, RAW_SCHEMA


def await_judgement(
    conn: psycopg.Connection, sync_id: uuid.UUID, severity_of: Mapping[str, str]
) -> None:
    """Mark a sync as awaiting each suite's verdict (severity `error` or `warn`); a sync landed
    again loses the verdicts on its earlier rows."""
    query = sql.SQL(
        """
        insert into {} (sync_id, suite, severity) values (%s, %s, %s)
        on conflict (sync_id, suite) do update set
            severity = excluded.severity, passed = null, judged_at = null,
            judged_by_run = null, summary = null
        """
    ).format(METER_SYNC_VERDICTS.identifier)
    with conn.cursor() as cursor:
        cursor.executemany(query, [(sync_id, suite, sev) for suite, sev in severity_of.items()])


@dataclass(frozen=True)
class Verdict:
    """One suite's verdict on syncs validated together."""

    sync_ids: Sequence[uuid.UUID]
    suite: str
    severity: str
    passed: bool
    summary: str
    judged_at: datetime
    judged_by_run: str | None


def record_verdicts(conn: psycopg.Connection, verdicts: Sequence[Verdict]) -> None:
    """Record each verdict on each of its syncs, replacing an earlier one."""
    query = sql.SQL(
        """
        insert into {} (sync_id, suite, severity, passed, judged_at, judged_by_run, summary)
        values (%s, %s, %s, %s, %s, %s, %s)
        on conflict (sync_id, suite) do update set
            severity = excluded.severity, passed = excluded.passed,
            judged_at = excluded.judged_at, judged_by_run = excluded.judged_by_run,
            summary = excluded.summary
        """
    ).format(METER_SYNC_VERDICTS.identifier)
    rows = [
        (
            sync_id,
            verdict.suite,
            verdict.severity,
            verdict.passed,
            verdict.judged_at,
            verdict.judged_by_run,
            verdict.summary,
        )
        for verdict in verdicts
        for sync_id in verdict.sync_ids
    ]
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(query, rows)


def verdicts_table_exists(conn: psycopg.Connection) -> bool:
    name = f"{RAW_SCHEMA}.{METER_SYNC_VERDICTS.name}"
    return conn.execute("select to_regclass(%s)", (name,)).fetchone()[0] is not None


@dataclass(frozen=True)
class AwaitingSyncs:
    """Syncs one run landed that still await a suite's verdict."""

    run_id: str | None
    sync_ids: list[uuid.UUID]


def awaiting_judgement(
    conn: psycopg.Connection, suite: str, leave_out: Sequence[uuid.UUID], limit: int
) -> list[AwaitingSyncs]:
    """Up to `limit` syncs awaiting the suite's verdict, oldest first, grouped by the run that
    landed them (a run's buckets are judged together, as its own checks would have); syncs
    with no run are each a group of their own."""
    # A database no sync of this version has written to may not have the table yet.
    if not verdicts_table_exists(conn):
        return []
    rows = conn.execute(
        sql.SQL(
            """
            select verdicts.sync_id, syncs.run_id
            from {verdicts} as verdicts
            inner join {syncs} as syncs on syncs.sync_id = verdicts.sync_id
            where
                verdicts.suite = %s
                and verdicts.passed is null
                and not verdicts.sync_id = any(%s)
            order by syncs.finished_at, syncs.run_id, syncs.bucket
            limit %s
            """
        ).format(verdicts=METER_SYNC_VERDICTS.identifier, syncs=METER_SYNCS.identifier),
        (suite, list(leave_out), limit),
    ).fetchall()
    groups: dict[str | uuid.UUID, AwaitingSyncs] = {}
    for sync_id, run_id in rows:
        group = groups.setdefault(run_id or sync_id, AwaitingSyncs(run_id, []))
        group.sync_ids.append(sync_id)
    return list(groups.values())


def held_back(conn: psycopg.Connection) -> tuple[int, int]:
    """How many landed syncs the marts do not read: awaiting an error-severity verdict, and
    failed one."""
    (awaiting, failed) = conn.execute(
        sql.SQL(
            """
            select
                count(distinct sync_id) filter (where verdicts.passed is null),
                count(distinct sync_id) filter (where not verdicts.passed)
            from {verdicts} as verdicts
            inner join {syncs} as syncs using (sync_id)
            where verdicts.severity = 'error' and verdicts.passed is not true
            """
        ).format(verdicts=METER_SYNC_VERDICTS.identifier, syncs=METER_SYNCS.identifier)
    ).fetchone()
    return awaiting, failed
