"""Reads and writes of the fleet sync: the registry it polls, snapshots, profile and event logs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from dagster_project.fleet_sync import RegisteredMeter
from dagster_project.warehouse.raw_tables import (
    METER_EVENT_LOG,
    METER_SYNC_SNAPSHOTS,
    METER_SYNCS,
    PROFILE_LOG_1,
    RawTable,
    copy_rows,
    replace_window,
)


def registered_meters(conn: psycopg.Connection) -> list[RegisteredMeter]:
    rows = conn.execute(
        """
        select id, serial, host(ip_address), port, mode, hardware
        from flows_raw.meter_registry
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
                )
            ],
        )
    return count


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


def load_profile_log_1(
    conn: psycopg.Connection,
    window: tuple[datetime, datetime],
    meter_ids: Sequence[uuid.UUID],
    rows: Iterable[Sequence[Any]],
) -> int:
    return _replace_day(conn, PROFILE_LOG_1, "record_timestamp", window, meter_ids, rows)


def load_event_log(
    conn: psycopg.Connection,
    window: tuple[datetime, datetime],
    meter_ids: Sequence[uuid.UUID],
    rows: Iterable[Sequence[Any]],
) -> int:
    return _replace_day(conn, METER_EVENT_LOG, "event_timestamp", window, meter_ids, rows)
