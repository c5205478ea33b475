"""The incremental marts, run after sync after sync, end up exactly as a full rebuild makes them:
across the October clock change, with failed reads, re-runs with nothing new and a sync that
commits late."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from psycopg import sql

from dagster_project.warehouse import connection
from tests.support.history_syncs import (
    FLAKY_METER,
    METERS,
    SYNC_TIMES,
    dbt_run,
    history_database,
    load_syncs,
)

INCREMENTAL_MARTS = (
    "meter_prepay_balance",
    "meter_csq",
    "meter_voltage",
    "meter_health_history",
    "daily_balance_summary",
)


def mart_rows(url: str) -> dict[str, list[tuple]]:
    with connection.connect(url) as conn:
        return {
            name: conn.execute(
                sql.SQL("select * from flows.{} order by 1, 2").format(sql.Identifier(name))
            ).fetchall()
            for name in INCREMENTAL_MARTS
        }


@pytest.fixture
def private_database(database_url: str) -> Iterator[str]:
    """A database of its own: the incremental state must not see other tests' syncs."""
    with history_database(database_url) as url:
        yield url


def test_incremental_runs_end_as_a_full_rebuild(private_database: str) -> None:
    url = private_database
    batches = [range(0, 4), range(4, 9), range(9, 10), range(10, 21), range(21, 32)]
    for batch in batches:
        load_syncs(url, batch)
        dbt_run(url)
    dbt_run(url)  # nothing new: nothing changes
    # A sync that commits after the run that followed a later one (inside the re-read margin).
    load_syncs(url, [32], shift=-timedelta(hours=3, minutes=30))
    dbt_run(url)
    incremental = mart_rows(url)
    with connection.connect(url) as conn:
        watermarks = conn.execute(
            "select model, synced_through from flows_staging.history_watermarks"
        ).fetchall()
        (latest,) = conn.execute(
            "select max(polled_at) from flows_raw.meter_sync_snapshots"
        ).fetchone()
    # Each history model remembers the latest sync it saw, the window start of its next run.
    assert dict(watermarks) == dict.fromkeys(INCREMENTAL_MARTS[:4], latest)

    dbt_run(url, "--full-refresh")
    rebuilt = mart_rows(url)

    for name in INCREMENTAL_MARTS:
        assert incremental[name] == rebuilt[name], name
    assert all(rebuilt[name] for name in INCREMENTAL_MARTS)


def test_history_rows_mark_only_changes(private_database: str) -> None:
    load_syncs(private_database, range(0, 12))
    dbt_run(private_database)
    with connection.connect(private_database) as conn:
        health = conn.execute(
            "select timestamp, health, error_class from flows.meter_health_history "
            "where meter_id = %s order by timestamp",
            (uuid.UUID(METERS[FLAKY_METER]["id"]),),
        ).fetchall()
        balance_rows = conn.execute(
            "select count(*) from flows.meter_prepay_balance where meter_id = %s",
            (uuid.UUID(METERS[0]["id"]),),
        ).fetchone()
    offset = timedelta(seconds=20 * FLAKY_METER)
    assert health == [
        (SYNC_TIMES[0] + offset, "healthy", None),
        (SYNC_TIMES[5] + offset, "unhealthy", "MeterTimeoutError"),
        (SYNC_TIMES[8] + offset, "unhealthy", "MeterNakError"),
        (SYNC_TIMES[9] + offset, "healthy", None),
    ]
    # Syncs 0-11: the balance steps down every other sync, 6 distinct values.
    assert balance_rows == (6,)


def test_daily_summary_days_follow_uk_clocks(private_database: str) -> None:
    load_syncs(private_database, range(0, 33))
    dbt_run(private_database)
    with connection.connect(private_database) as conn:
        days = conn.execute(
            "select day, hours_in_day, readings_count, hours_covered "
            "from flows.daily_balance_summary where meter_id = %s order by day",
            (uuid.UUID(METERS[0]["id"]),),
        ).fetchall()
    by_day = {day.isoformat(): (hours, count, covered) for day, hours, count, covered in days}
    # Syncs at 00, 03, ... UTC: 23 Oct is BST (day starts 23:00 UTC the evening before).
    assert by_day["2026-10-23"][:2] == (24, 8)  # 00:00-21:00 UTC; 00:00 UTC is 01:00 BST
    # 23:00 UTC on the 24th to 00:00 UTC on the 26th: still the eight syncs of 00-21 UTC
    assert by_day["2026-10-25"] == (25, 8, Decimal("25.0000"))
    assert by_day["2026-10-26"][:2] == (24, 8)
    assert by_day["2026-10-23"][2] == Decimal("23.0000")  # known from 00:00 UTC to day end
