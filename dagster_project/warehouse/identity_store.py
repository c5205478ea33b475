"""Identity mismatches: meters whose registered address answers with another serial.

The sync records a mismatch as a failed snapshot of class IdentityMismatchError (nothing the
device said is kept). A mismatch blocks tariff pushes and top-up tokens to the meter until an
operator resolves it (`flows identity resolve`); a mismatch seen after that blocks them again.
"""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from dagster_project.domain.fleet_health import IdentityMismatch
from dagster_project.warehouse.raw_tables import METER_IDENTITY_RESOLUTIONS

#: The error class the sync records for a device that reports another serial.
IDENTITY_MISMATCH = "IdentityMismatchError"


def unresolved_mismatches(conn: psycopg.Connection) -> list[IdentityMismatch]:
    """Registry meters with a mismatch seen since their latest resolution, by serial."""
    query = """
        select
            registry.id as meter_id,
            registry.serial,
            latest.error_message as message,
            (
                select min(since.polled_at)
                from flows_raw.meter_sync_snapshots as since
                where
                    since.meter_id = registry.id
                    and since.error_class = %(mismatch)s
                    and since.polled_at > coalesce(resolved.at, '-infinity')
            ) as first_seen,
            latest.polled_at as last_seen
        from flows_raw.meter_registry as registry
        left join lateral (
            select max(resolutions.resolved_at) as at
            from flows_raw.meter_identity_resolutions as resolutions
            where resolutions.meter_id = registry.id
        ) as resolved on true
        join lateral (
            select snapshots.error_message, snapshots.polled_at
            from flows_raw.meter_sync_snapshots as snapshots
            where snapshots.meter_id = registry.id and snapshots.error_class = %(mismatch)s
            order by snapshots.polled_at desc
            limit 1
        ) as latest on latest.polled_at > coalesce(resolved.at, '-infinity')
        where registry.installation_status is distinct from 'deleted'
        order by registry.serial
    """
    with conn.cursor(row_factory=class_row(IdentityMismatch)) as cursor:
        return cursor.execute(query, {"mismatch": IDENTITY_MISMATCH}).fetchall()


class UnknownMeter(LookupError):
    """The serial is not in the registry."""


def resolve_mismatch(
    conn: psycopg.Connection, serial: str, resolved_by: str, note: str | None, at: datetime
) -> bool:
    """Record that the meter's mismatch is dealt with; return whether one was unresolved."""
    row = conn.execute(
        "select id from flows_raw.meter_registry where serial = %s", (serial,)
    ).fetchone()
    if row is None:
        raise UnknownMeter(serial)
    pending = any(m.serial == serial for m in unresolved_mismatches(conn))
    conn.execute(
        sql.SQL(
            "insert into {} (meter_id, serial, resolved_at, resolved_by, note) "
            "values (%s, %s, %s, %s, %s)"
        ).format(METER_IDENTITY_RESOLUTIONS.identifier),
        (row[0], serial, at, resolved_by, note),
    )
    return pending
