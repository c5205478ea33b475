"""Monthly range partitions of the time-series raw tables, and dropping expired ones.

Each partitioned table has one partition per UTC calendar month, named `<table>_pYYYYMM`, and a
`<table>_default` partition for rows outside them (a backfill of an old month, a meter whose
clock was reset to 2000). Partitions are created ahead of time, so the default one stays small:
PostgreSQL refuses to create a month's partition once the default holds rows of that month.
Retention drops whole months, which costs nothing like a DELETE of the same rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

import psycopg
from psycopg import sql

_MONTH_SUFFIX = re.compile(r"_p(\d{4})(\d{2})$")
#: Months kept before the current one: yesterday's logs land in last month on the 1st.
MONTHS_BEHIND = 1
#: Months created after the current one, so that a month never starts without its partition.
MONTHS_AHEAD = 2


@dataclass(frozen=True)
class MonthPartition:
    first_day: date

    @property
    def next_first_day(self) -> date:
        return add_months(self.first_day, 1)

    def name(self, table: str) -> str:
        return f"{table}_p{self.first_day:%Y%m}"


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def months_between(first: date, last: date) -> list[MonthPartition]:
    """Every month from the one holding `first` to the one holding `last`, both included."""
    months = []
    current = month_start(first)
    while current <= last:
        months.append(MonthPartition(current))
        current = add_months(current, 1)
    return months


def months_around(today: date) -> list[MonthPartition]:
    """The months a table should have partitions for on `today`."""
    return months_between(
        add_months(month_start(today), -MONTHS_BEHIND),
        add_months(month_start(today), MONTHS_AHEAD),
    )


def month_of_partition(name: str, table: str) -> date | None:
    """The first day of a partition's month from its name; None for any other name."""
    if not name.startswith(f"{table}_p"):
        return None
    match = _MONTH_SUFFIX.search(name)
    if match is None:
        return None
    return date(int(match[1]), int(match[2]), 1)


def expired_months(names: list[str], table: str, keep_from: date) -> list[str]:
    """The month partitions entirely before `keep_from` (a first day of a month)."""
    return sorted(
        name
        for name in names
        if (first := month_of_partition(name, table)) is not None and first < keep_from
    )


def _utc_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# ---------------------------------------------------------------- in the database


def is_partitioned(conn: psycopg.Connection, schema: str, table: str) -> bool:
    row = conn.execute(
        "select c.relkind = 'p' from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = %s",
        (schema, table),
    ).fetchone()
    return bool(row and row[0])


def partition_names(conn: psycopg.Connection, schema: str, table: str) -> list[str]:
    rows = conn.execute(
        "select child.relname from pg_inherits i "
        "join pg_class parent on parent.oid = i.inhparent "
        "join pg_class child on child.oid = i.inhrelid "
        "join pg_namespace n on n.oid = parent.relnamespace "
        "where n.nspname = %s and parent.relname = %s order by child.relname",
        (schema, table),
    )
    return [name for (name,) in rows]


def ensure_month_partitions(
    conn: psycopg.Connection, schema: str, table: str, months: list[MonthPartition]
) -> list[str]:
    """Create the missing month partitions and the default one; return the names created."""
    existing = set(partition_names(conn, schema, table))
    created = []
    for month in months:
        name = month.name(table)
        if name in existing:
            continue
        conn.execute(
            sql.SQL("create table {} partition of {} for values from ({}) to ({})").format(
                sql.Identifier(schema, name),
                sql.Identifier(schema, table),
                sql.Literal(_utc_midnight(month.first_day)),
                sql.Literal(_utc_midnight(month.next_first_day)),
            )
        )
        created.append(name)
    default = f"{table}_default"
    if default not in existing:
        conn.execute(
            sql.SQL("create table {} partition of {} default").format(
                sql.Identifier(schema, default), sql.Identifier(schema, table)
            )
        )
        created.append(default)
    return created


def drop_expired_partitions(
    conn: psycopg.Connection, schema: str, table: str, column: str, keep_from: date
) -> tuple[list[str], int]:
    """Drop the month partitions before `keep_from` and delete the default partition's rows
    before it; return the partitions dropped and the rows deleted."""
    dropped = expired_months(partition_names(conn, schema, table), table, keep_from)
    with conn.transaction():
        for name in dropped:
            conn.execute(sql.SQL("drop table {}").format(sql.Identifier(schema, name)))
        deleted = conn.execute(
            sql.SQL("delete from {} where {} < %s").format(
                sql.Identifier(schema, f"{table}_default"), sql.Identifier(column)
            ),
            (_utc_midnight(keep_from),),
        ).rowcount
    return dropped, deleted
