"""Per-ESCO caps on simultaneous meter connections, held in PostgreSQL so that every run that
contacts meters shares them: the bucket runs of a fanned-out sync (on one machine or on many
run workers), the write path and the daily logs.

An ESCO with a limit has that many rows in `flows_raw.meter_connection_slots`. Reading a meter
takes one free row (a lease) and frees it afterwards. A holder renews its leases while it
runs, so a run that dies loses its slots once they expire, `lease_seconds` later.

The limit of an ESCO is its row in `flows_raw.esco_connection_limits`, else the default the
caller passes (FLOWS_EMOP_MAX_CONNECTIONS_PER_ESCO); an ESCO with neither is not capped and
costs no query. Limits are read when a run starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

import psycopg

from dagster_project.emop.connection_slots import Slot
from dagster_project.warehouse import connection

log = logging.getLogger(__name__)

#: Advisory lock key of the tables' creation (the other locks of flows use other keys).
_ENSURE_TABLES_LOCK = 0x666C6F7773_02

_TABLES = (
    """
    create table if not exists flows_raw.esco_connection_limits (
        esco uuid primary key,
        max_connections int4 not null check (max_connections >= 1),
        set_at timestamptz not null default now()
    )
    """,
    """
    create table if not exists flows_raw.meter_connection_slots (
        esco uuid not null,
        slot int4 not null,
        holder uuid,
        run_id text,
        taken_at timestamptz,
        expires_at timestamptz,
        primary key (esco, slot)
    )
    """,
)

# The lowest free slot below the limit; `skip locked` lets two runs take different ones at once.
_TAKE = """
with free as (
    select esco, slot from flows_raw.meter_connection_slots
    where esco = %(esco)s and slot < %(limit)s and (holder is null or expires_at < now())
    order by slot
    limit 1
    for update skip locked
)
update flows_raw.meter_connection_slots as s
set holder = %(holder)s, run_id = %(run_id)s, taken_at = now(),
    expires_at = now() + %(lease_seconds)s * interval '1 second'
from free
where s.esco = free.esco and s.slot = free.slot
returning s.slot
"""

_FREE = """
update flows_raw.meter_connection_slots
set holder = null, run_id = null, taken_at = null, expires_at = null
where esco = %s and slot = %s and holder = %s
"""


def ensure_lease_tables(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (_ENSURE_TABLES_LOCK,))
        conn.execute("create schema if not exists flows_raw")
        for statement in _TABLES:
            conn.execute(statement)


def set_limit(conn: psycopg.Connection, esco: uuid.UUID, max_connections: int | None) -> None:
    """Cap an ESCO at `max_connections` simultaneous meter connections (None: drop its own
    limit, so the default applies). Runs already reading keep the limit they started with."""
    if max_connections is not None and max_connections < 1:
        raise ValueError(f"ESCO {esco}: max_connections must be at least 1, not {max_connections}")
    ensure_lease_tables(conn)
    with conn.transaction():
        if max_connections is None:
            conn.execute("delete from flows_raw.esco_connection_limits where esco = %s", (esco,))
        else:
            conn.execute(
                """
                insert into flows_raw.esco_connection_limits (esco, max_connections)
                values (%s, %s)
                on conflict (esco) do update
                set max_connections = excluded.max_connections, set_at = now()
                """,
                (esco, max_connections),
            )


@dataclass(frozen=True)
class EscoConnections:
    """An ESCO's own limit and the slots held now, as `flows connections` shows them."""

    esco: uuid.UUID
    max_connections: int | None
    in_use: int
    runs: tuple[str, ...]
    oldest_taken_at: datetime | None


def connections_in_use(conn: psycopg.Connection) -> list[EscoConnections]:
    ensure_lease_tables(conn)
    rows = conn.execute(
        """
        with held as (
            select esco, count(*) as in_use,
                   array_agg(distinct run_id) filter (where run_id is not null) as runs,
                   min(taken_at) as oldest
            from flows_raw.meter_connection_slots
            where holder is not null and expires_at >= now()
            group by esco
        )
        select coalesce(l.esco, h.esco), l.max_connections, coalesce(h.in_use, 0),
               coalesce(h.runs, '{}'), h.oldest
        from flows_raw.esco_connection_limits as l
        full join held as h on h.esco = l.esco
        order by 1
        """
    ).fetchall()
    return [EscoConnections(e, limit, n, tuple(runs), oldest) for e, limit, n, runs, oldest in rows]


class PostgresConnectionSlots:
    """ConnectionSlots (emop.connection_slots) leased from the warehouse. Use as
    `async with PostgresConnectionSlots(url, ...) as slots:`; leaving frees every slot held.

    A connection to the database that drops is opened again once per statement. A slot that
    cannot be given back stays this holder's until it leaves (or its lease runs out), rather
    than failing the read of every other meter."""

    def __init__(
        self,
        url: str,
        *,
        default_limit: int | None = None,
        run_id: str | None = None,
        lease_seconds: float = 120.0,
    ) -> None:
        if default_limit is not None and default_limit < 1:
            raise ValueError(f"default connection limit must be at least 1, not {default_limit}")
        self._url = url
        self._default_limit = default_limit
        self._run_id = run_id
        self._lease_seconds = lease_seconds
        self._holder = uuid.uuid4()
        self._limits: dict[str, int] = {}
        self._prepared: set[str] = set()
        self._held = 0
        self._conn: psycopg.AsyncConnection | None = None
        self._reconnecting = asyncio.Lock()
        self._renewing: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        with connection.connect(self._url, autocommit=True) as conn:
            ensure_lease_tables(conn)
            rows = conn.execute(
                "select esco, max_connections from flows_raw.esco_connection_limits"
            ).fetchall()
        self._limits = {str(esco): limit for esco, limit in rows}
        self._conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
        self._renewing = asyncio.ensure_future(self._renew())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            if self._renewing is not None:
                self._renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._renewing
            with contextlib.suppress(psycopg.Error):
                await self._execute(
                    "update flows_raw.meter_connection_slots set holder = null, run_id = null, "
                    "taken_at = null, expires_at = null where holder = %s",
                    (self._holder,),
                )
        finally:
            if self._conn is not None:
                await self._conn.close()

    def limit_of(self, group: str) -> int | None:
        return self._limits.get(group, self._default_limit)

    async def try_take(self, group: str) -> Slot | None:
        limit = self.limit_of(group)
        if limit is None:
            return Slot(group, -1)
        if group not in self._prepared:
            await self._execute(
                "insert into flows_raw.meter_connection_slots (esco, slot) "
                "select %s, generate_series(0, %s - 1) on conflict do nothing",
                (group, limit),
            )
            self._prepared.add(group)
        cursor = await self._execute(
            _TAKE,
            {
                "esco": group,
                "limit": limit,
                "holder": self._holder,
                "run_id": self._run_id,
                "lease_seconds": self._lease_seconds,
            },
        )
        row = await cursor.fetchone()
        if row is None:
            return None
        self._held += 1
        return Slot(group, row[0])

    async def give_back(self, slot: Slot) -> None:
        if slot.number < 0:
            return
        self._held -= 1
        try:
            await self._execute(_FREE, (slot.group, slot.number, self._holder))
        except psycopg.Error as error:
            log.warning(
                "ESCO %s: could not give back connection slot %d (%s); it is freed when this "
                "run ends, or when its lease runs out",
                slot.group, slot.number, error,
            )  # fmt: skip

    async def _execute(self, query: str, params: Any) -> psycopg.AsyncCursor[Any]:
        """Run one statement; a connection that dropped is opened again once."""
        conn = self._connection()
        try:
            return await conn.execute(query, params)
        except psycopg.OperationalError:
            if not conn.closed and not conn.broken:
                raise
        async with self._reconnecting:
            if self._conn is conn:  # not already opened again by another statement
                with contextlib.suppress(psycopg.Error):
                    await conn.close()
                self._conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
        return await self._connection().execute(query, params)

    def _connection(self) -> psycopg.AsyncConnection:
        if self._conn is None:
            raise RuntimeError("PostgresConnectionSlots is used outside `async with`")
        return self._conn

    async def _renew(self) -> None:
        """Keep this holder's leases from expiring while it runs."""
        while True:
            await asyncio.sleep(self._lease_seconds / 3)
            # A database that is away for a moment costs nothing yet: the next renewal comes
            # well before the leases expire.
            with contextlib.suppress(psycopg.Error):
                cursor = await self._execute(
                    "update flows_raw.meter_connection_slots "
                    "set expires_at = now() + %s * interval '1 second' where holder = %s",
                    (self._lease_seconds, self._holder),
                )
                if cursor.rowcount < self._held:
                    # The loop stalled past a lease, or renewals failed: another run may have
                    # taken those slots, and the ESCO may be over its cap until they are back.
                    log.warning(
                        "%d connection slot(s) of run %s expired while held",
                        self._held - cursor.rowcount, self._run_id,
                    )  # fmt: skip
