"""Reads and writes of the fleet sync: the registry it polls, snapshots, profile and event logs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from dagster_project.domain.fleet_sync import RegisteredMeter
from dagster_project.warehouse.raw_tables import (
    METER_EVENT_LOG,
    METER_SYNC_SNAPSHOTS,
    METER_SYNCS,
    PROFILE_LOG_1,
    PROFILE_LOG_2,
    PROFILE_LOG_LOADS,
    RAW_SCHEMA,
    RawTable,
    copy_rows,
    replace_window,
)


def registered_meters(conn: psycopg.Connection) -> list[RegisteredMeter]:
    """The registry's meters, less the deleted ones: they are never polled nor written to."""
    rows = conn.execute(
        """
        select
            id, serial, host(ip_address), port, mode, hardware, esco,
            coalesce(installation_status, 'enabled')
        from flows_raw.meter_registry
        where installation_status is distinct from 'deleted'
        order by serial
        """
    ).fetchall()
    return [RegisteredMeter(*row) for row in rows]


@dataclass(frozen=True)
class SyncHeader:
    sync_id: uuid.UUID
    started_at: datetime
    finished_at: datetime
    meters_ok: int
    meters_failed: int
    meters_skipped: int
    run_id: str | None
    #: The bucket key (e.g. 03-of-16) the sync covered.
    bucket: str | None = None


def load_sync(conn: psycopg.Connection, header: SyncHeader, rows: Iterable[Sequence[Any]]) -> int:
    """Land one sync: its snapshot rows and its header, replacing any earlier load of it."""
    with conn.transaction(), conn.cursor() as cursor:
        for table in (METER_SYNC_SNAPSHOTS, METER_SYNCS):
            cursor.execute(
                sql.SQL("delete from {} where sync_id = %s").format(table.identifier),
                (header.sync_id,),
            )
        count = copy_rows(cursor, METER_SYNC_SNAPSHOTS, rows)
        copy_rows(
            cursor,
            METER_SYNCS,
            [
                (
                    header.sync_id,
                    header.started_at,
                    header.finished_at,
                    header.meters_ok,
                    header.meters_failed,
                    header.meters_skipped,
                    header.run_id,
                    header.bucket,
                )
            ],
        )
    return count


#: Why a check looks at the syncs it looks at.
LANDED_BY_THIS_RUN = "landed by this run"
LATEST_RUN = "the latest run's (this run landed none)"
NO_SYNC = "no sync landed yet"


def syncs_to_check(conn: psycopg.Connection, run_id: str) -> tuple[list[uuid.UUID], str]:
    """The syncs this run landed, one per bucket it read; a check run alone (from the UI, say)
    looks at those of the run that landed the latest sync."""
    # Run alone on a database no sync ever wrote to, the tables may not exist yet.
    name = f"{RAW_SCHEMA}.{METER_SYNCS.name}"
    if conn.execute("select to_regclass(%s)", (name,)).fetchone()[0] is None:
        return [], NO_SYNC
    own = _syncs_of_run(conn, run_id)
    if own:
        return own, LANDED_BY_THIS_RUN
    latest = conn.execute(
        sql.SQL("select sync_id, run_id from {} order by finished_at desc limit 1").format(
            METER_SYNCS.identifier
        )
    ).fetchone()
    if latest is None:
        return [], NO_SYNC
    sync_id, latest_run = latest
    return (_syncs_of_run(conn, latest_run) if latest_run else [sync_id]), LATEST_RUN


def _syncs_of_run(conn: psycopg.Connection, run_id: str) -> list[uuid.UUID]:
    rows = conn.execute(
        sql.SQL("select sync_id from {} where run_id = %s order by bucket").format(
            METER_SYNCS.identifier
        ),
        (run_id,),
    ).fetchall()
    return [sync_id for (sync_id,) in rows]


def _replace_day(
    conn: psycopg.Connection,
    table: RawTable,
    time_column: str,
    window: tuple[datetime, datetime],
    meter_ids: Sequence[uuid.UUID],
    rows: Iterable[Sequence[Any]],
) -> int:
    # Only the meters read this time: a meter that failed keeps what an earlier run landed.
    where = sql.SQL("meter_id = any(%s) and {col} >= %s and {col} < %s").format(
        col=sql.Identifier(time_column)
    )
    return replace_window(conn, table, rows, where, (list(meter_ids), *window))


def _replace_profile_day(
    conn: psycopg.Connection,
    table: RawTable,
    window: tuple[datetime, datetime],
    meter_ids: Sequence[uuid.UUID],
    rows: Iterable[Sequence[Any]],
) -> int:
    """The day's rows, and the load's entry in the ledger the energy build reads, in one
    transaction."""
    rows = list(rows)
    position = table.column_names.index("record_timestamp")
    timestamps = [row[position] for row in rows]
    with conn.transaction():
        count = _replace_day(conn, table, "record_timestamp", window, meter_ids, rows)
        conn.execute(
            sql.SQL(
                "insert into {} (load_id, log, window_start, window_end, meter_ids, "
                "first_record_at, last_record_at, row_count, loaded_at) "
                "values (%s, %s, %s, %s, %s, %s, %s, %s, now())"
            ).format(PROFILE_LOG_LOADS.identifier),
            (
                uuid.uuid4(), table.name, *window, list(meter_ids),
                min(timestamps, default=None), max(timestamps, default=None), count,
            ),
        )  # fmt: skip
    return count


def load_profile_log_1(
    conn: psycopg.Connection,
    window: tuple[datetime, datetime],
    meter_ids: Sequence[uuid.UUID],
    rows: Iterable[Sequence[Any]],
) -> int:
    return _replace_profile_day(conn, PROFILE_LOG_1, window, meter_ids, rows)


def load_profile_log_2(
    conn: psycopg.Connection,
    window: tuple[datetime, datetime],
    meter_ids: Sequence[uuid.UUID],
    rows: Iterable[Sequence[Any]],
) -> int:
    return _replace_profile_day(conn, PROFILE_LOG_2, window, meter_ids, rows)


def load_event_log(
    conn: psycopg.Connection,
    window: tuple[datetime, datetime],
    meter_ids: Sequence[uuid.UUID],
    rows: Iterable[Sequence[Any]],
) -> int:
    return _replace_day(conn, METER_EVENT_LOG, "event_timestamp", window, meter_ids, rows)
