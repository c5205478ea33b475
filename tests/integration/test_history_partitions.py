"""Monthly partitions of the history marts: made by the first build, extended by later runs, kept
by --full-refresh, and made from the plain tables of a database built by an earlier version."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from dagster_project.warehouse import connection, partitions
from tests.support.history_syncs import FIRST_SYNC, dbt_run, history_database, load_syncs

HISTORY_MARTS = ("meter_prepay_balance", "meter_csq", "meter_voltage", "meter_health_history")
SCHEMA = "flows"


@pytest.fixture
def private_database(database_url: str) -> Iterator[str]:
    """A database of its own: the incremental state must not see other tests' syncs."""
    with history_database(database_url) as url:
        yield url


def layout(conn: psycopg.Connection, table: str) -> list[str]:
    assert partitions.is_partitioned(conn, SCHEMA, table), table
    return partitions.partition_names(conn, SCHEMA, table)


def rows_by_partition(conn: psycopg.Connection, table: str) -> dict[str, int]:
    rows = conn.execute(
        sql.SQL("select tableoid::regclass::text, count(*) from {} group by 1").format(
            sql.Identifier(SCHEMA, table)
        )
    )
    return {where.removeprefix(f"{SCHEMA}."): count for where, count in rows}


def all_rows(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    return {
        table: conn.execute(
            sql.SQL("select * from {} order by 1, 2").format(sql.Identifier(SCHEMA, table))
        ).fetchall()
        for table in HISTORY_MARTS
    }


def test_history_marts_are_partitioned_by_month(private_database: str) -> None:
    url = private_database
    load_syncs(url, range(0, 8))  # 23-24 October 2026
    dbt_run(url)
    with connection.connect(url) as conn:
        for table in HISTORY_MARTS:
            names = layout(conn, table)
            month_names = [f"{table}_p{suffix}" for suffix in month_suffixes()]
            assert names == sorted([*month_names, f"{table}_default"]), table
            assert rows_by_partition(conn, table).keys() == {f"{table}_p202610"}, table
            # The contract's primary key and dbt's unique index are on the partitioned table.
            assert index_count(conn, table) == 2, table

    # Snapshots of a later month land in that month's partition.
    load_syncs(url, range(8, 12), shift=timedelta(days=40))  # early December 2026
    dbt_run(url)
    with connection.connect(url) as conn:
        for table in HISTORY_MARTS:
            assert set(rows_by_partition(conn, table)) == {
                f"{table}_p202610",
                f"{table}_p202612",
            }, table
        incremental = all_rows(conn)

    # --full-refresh rebuilds the same rows into the same partitions.
    dbt_run(url, "--full-refresh")
    with connection.connect(url) as conn:
        assert all_rows(conn) == incremental
        for table in HISTORY_MARTS:
            assert partitions.is_partitioned(conn, SCHEMA, table), table
            assert "_default" not in "".join(rows_by_partition(conn, table)), table


def test_a_month_held_by_the_default_partition_is_moved_into_its_own(
    private_database: str,
) -> None:
    url = private_database
    load_syncs(url, range(0, 4))
    dbt_run(url)
    stray = datetime(2026, 8, 10, tzinfo=UTC)
    with connection.connect(url) as conn:
        # A row the partitions did not cover yet, e.g. written before its month had one.
        conn.execute(
            "insert into flows.meter_csq (meter_id, timestamp, csq) values (%s, %s, 9)",
            (uuid.UUID(int=7), stray),
        )
        assert rows_by_partition(conn, "meter_csq")["meter_csq_default"] == 1
    # A late backfill of August: its month's partition is now due.
    load_syncs(url, [4], shift=datetime(2026, 8, 20, tzinfo=UTC) - FIRST_SYNC - timedelta(hours=12))
    dbt_run(url)
    with connection.connect(url) as conn:
        assert "meter_csq_p202608" in layout(conn, "meter_csq")
        where = conn.execute(
            "select tableoid::regclass::text from flows.meter_csq where timestamp = %s", (stray,)
        ).fetchone()
        assert where == ("flows.meter_csq_p202608",)


def test_plain_history_tables_are_converted_with_their_rows(private_database: str) -> None:
    url = private_database
    load_syncs(url, range(0, 8))
    dbt_run(url)
    with connection.connect(url) as conn:
        # The layout an earlier version built: plain tables with the same columns and keys.
        for table in HISTORY_MARTS:
            conn.execute(
                sql.SQL(
                    "create table {plain} (like {table} including all);"
                    "insert into {plain} select * from {table};"
                    "drop table {table};"
                    "alter table {plain} rename to {name}"
                ).format(
                    plain=sql.Identifier(SCHEMA, f"{table}_plain"),
                    table=sql.Identifier(SCHEMA, table),
                    name=sql.Identifier(table),
                )
            )
            assert not partitions.is_partitioned(conn, SCHEMA, table)
        before = all_rows(conn)
    dbt_run(url)
    dbt_run(url)  # nothing left to convert
    with connection.connect(url) as conn:
        assert all_rows(conn) == before
        for table in HISTORY_MARTS:
            assert f"{table}_p202610" in layout(conn, table)
            assert rows_by_partition(conn, table).keys() == {f"{table}_p202610"}, table
            assert index_count(conn, table) == 2, table


def index_count(conn: psycopg.Connection, table: str) -> int:
    (count,) = conn.execute(
        "select count(*) from pg_indexes where schemaname = %s and tablename = %s",
        (SCHEMA, table),
    ).fetchone()
    return count


def month_suffixes() -> list[str]:
    today = datetime.now(UTC).date()
    months = partitions.months_between(
        FIRST_SYNC.date(), partitions.add_months(today, partitions.MONTHS_AHEAD)
    )
    return [f"{month.first_day:%Y%m}" for month in months]
