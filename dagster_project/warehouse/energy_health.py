"""Queries behind the energy checks: how complete a UK day is across the fleet, which
half-hours a validation rule flagged, which registers recorded nothing for days.

Each returns plain rows (domain/energy_health.py's types); domain/rules/energy_rules.py judges.
The half-hour queries are bounded by time, so their cost follows the days asked for.
"""

from __future__ import annotations

from datetime import date, datetime

import psycopg
from psycopg.rows import class_row

from dagster_project.domain.energy_health import (
    DayCompleteness,
    FlaggedHalfHour,
    ZeroRegister,
    uk_day_half_hours,
)

#: Flagged half-hours listed at most (the counts cover them all).
FLAGGED_LIMIT = 1000


def day_completeness(conn: psycopg.Connection, day: date) -> DayCompleteness:
    """The day's half-hours over the enabled registers of the meters the sync polls: a meter
    that never answered counts as all missing, not as absent."""
    rows = conn.execute(
        """
        select
            registry.serial,
            registers.element,
            coalesce(daily.half_hours_actual, 0) as actual,
            coalesce(daily.half_hours_estimated, 0) as estimated
        from flows.meter_registers as registers
        inner join flows.meter_registry as registry on registers.meter_id = registry.id
        left join flows.register_interval_daily as daily
            on daily.register_id = registers.register_id and daily.date = %(day)s
        where
            registers.status = 'enabled'
            and registry.polled
        """,
        {"day": day},
    ).fetchall()
    per_register = uk_day_half_hours(day)
    short = sorted(
        (
            (serial, element, actual + estimated, per_register)
            for serial, element, actual, estimated in rows
            if actual + estimated < per_register
        ),
        key=lambda row: (row[2], row[0], row[1]),
    )
    return DayCompleteness(
        day=day,
        expected=per_register * len(rows),
        actual=sum(row[2] for row in rows),
        estimated=sum(row[3] for row in rows),
        short=short,
    )


def flagged_half_hours(
    conn: psycopg.Connection, since: datetime, rule: str
) -> list[FlaggedHalfHour]:
    """Half-hours from `since` on where `rule` fired on the import, oldest first."""
    with conn.cursor(row_factory=class_row(FlaggedHalfHour)) as cursor:
        return cursor.execute(
            """
            select
                registry.serial,
                intervals.element,
                intervals."timestamp" as half_hour,
                intervals.import_kwh,
                intervals.rules
            from flows.register_interval_hh as intervals
            inner join flows.meter_registry as registry on intervals.meter_id = registry.id
            where intervals."timestamp" >= %(since)s and %(rule)s = any(intervals.rules)
            order by intervals."timestamp", registry.serial, intervals.element
            limit %(limit)s
            """,
            {"since": since, "rule": rule, "limit": FLAGGED_LIMIT},
        ).fetchall()


def zero_registers(conn: psycopg.Connection) -> list[ZeroRegister]:
    with conn.cursor(row_factory=class_row(ZeroRegister)) as cursor:
        return cursor.execute(
            """
            select serial, element, zero_days, last_contact_at
            from flows.registers_zero_consumption
            order by serial, element
            """
        ).fetchall()
