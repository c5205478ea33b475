"""Monthly partitions of the raw time-series tables: creation, routing, conversion, retention."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from dagster import DagsterInstance

from dagster_project.defs.resources import WarehouseResource
from dagster_project.defs.retention.jobs import raw_retention
from dagster_project.warehouse import connection, partitions
from dagster_project.warehouse.connection import scratch_database
from dagster_project.warehouse.raw_tables import (
    METER_SYNC_SNAPSHOTS,
    PARTITIONED_TABLES,
    RAW_SCHEMA,
    copy_rows,
    ensure_raw_tables,
    partition_existing_table,
)
from dagster_project.warehouse.sync_store import SyncHeader, load_sync

TODAY = date(2026, 12, 15)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    with (
        scratch_database(database_url, "flows_partitions") as url,
        connection.connect(url, autocommit=True) as conn,
    ):
        yield conn


def snapshot_row(sync_id: uuid.UUID, polled_at: datetime, meter: int = 1) -> tuple:
    values = dict.fromkeys(METER_SYNC_SNAPSHOTS.column_names)
    values.update(
        sync_id=sync_id,
        meter_id=uuid.UUID(int=meter),
        serial=f"EML{2200000000 + meter:010d}",
        polled_at=polled_at,
        outcome="ok",
        balance=10,
    )
    return tuple(values.values())


def partition_of_rows(conn: psycopg.Connection) -> list[tuple[datetime, str]]:
    rows = conn.execute(
        "select polled_at, tableoid::regclass::text from flows_raw.meter_sync_snapshots "
        "order by polled_at"
    )
    return [(polled_at, where.removeprefix("flows_raw.")) for polled_at, where in rows]


def test_a_new_database_gets_month_partitions_around_today_and_a_default(conn) -> None:
    ensure_raw_tables(conn, TODAY)
    for table in PARTITIONED_TABLES:
        assert partitions.is_partitioned(conn, RAW_SCHEMA, table.name)
        assert partitions.partition_names(conn, RAW_SCHEMA, table.name) == [
            f"{table.name}_default",
            f"{table.name}_p202611",
            f"{table.name}_p202612",
            f"{table.name}_p202701",
            f"{table.name}_p202702",
        ]
    ensure_raw_tables(conn, date(2027, 1, 2))  # a month on: one more ahead, nothing dropped
    names = partitions.partition_names(conn, RAW_SCHEMA, "profile_log_1")
    assert "profile_log_1_p202703" in names and "profile_log_1_p202611" in names


def test_a_sync_across_midnight_at_month_end_lands_in_both_months_once(conn) -> None:
    ensure_raw_tables(conn, TODAY)
    sync_id = uuid.uuid4()
    midnight = datetime(2026, 12, 1, tzinfo=UTC)
    rows = [
        snapshot_row(sync_id, midnight - timedelta(seconds=1), 1),
        snapshot_row(sync_id, midnight, 2),
        snapshot_row(sync_id, datetime(2019, 3, 1, tzinfo=UTC), 3),  # a meter clock reset
    ]
    header = SyncHeader(sync_id, midnight, midnight, 3, 0, 0, None)
    for _ in range(2):  # a re-run replaces the sync: still one row per meter
        load_sync(conn, header, rows)
    assert [where for _, where in partition_of_rows(conn)] == [
        "meter_sync_snapshots_default",
        "meter_sync_snapshots_p202611",
        "meter_sync_snapshots_p202612",
    ]


def test_retention_drops_whole_old_months_and_old_default_rows_only(conn) -> None:
    ensure_raw_tables(conn, TODAY)
    old_months = partitions.months_between(date(2025, 9, 1), date(2026, 10, 1))
    partitions.ensure_month_partitions(conn, RAW_SCHEMA, "meter_sync_snapshots", old_months)
    sync_id = uuid.uuid4()
    stamps = [
        datetime(2019, 3, 1, tzinfo=UTC),  # default partition, expired
        datetime(2025, 9, 30, 23, 0, tzinfo=UTC),  # expired month
        datetime(2025, 10, 31, 23, 59, tzinfo=UTC),  # expired month
        datetime(2025, 11, 1, 0, 0, tzinfo=UTC),  # first kept month
        datetime(2026, 12, 14, tzinfo=UTC),
        datetime(2031, 1, 1, tzinfo=UTC),  # default partition, far ahead: kept
    ]
    with conn.cursor() as cursor:
        copy_rows(
            cursor,
            METER_SYNC_SNAPSHOTS,
            [snapshot_row(sync_id, stamp, n) for n, stamp in enumerate(stamps)],
        )
    dropped, deleted = partitions.drop_expired_partitions(
        conn, RAW_SCHEMA, "meter_sync_snapshots", "polled_at", date(2025, 11, 1)
    )
    assert dropped == ["meter_sync_snapshots_p202509", "meter_sync_snapshots_p202510"]
    assert deleted == 1
    assert [stamp for stamp, _ in partition_of_rows(conn)] == stamps[3:]


def test_the_retention_job_prunes_by_its_configured_months(database_url: str) -> None:
    with scratch_database(database_url, "flows_retention") as url:
        with connection.connect(url, autocommit=True) as conn:
            ensure_raw_tables(conn)
            this_month = partitions.month_start(datetime.now(UTC).date())
            old = partitions.add_months(this_month, -5)
            partitions.ensure_month_partitions(
                conn, RAW_SCHEMA, "meter_sync_snapshots", partitions.months_between(old, old)
            )
        result = raw_retention.execute_in_process(
            run_config={"ops": {"prune_raw_snapshots": {"config": {"keep_months": 4}}}},
            resources={"warehouse": WarehouseResource(database_url=url)},
            instance=DagsterInstance.ephemeral(),
        )
        assert result.success
        with connection.connect(url) as conn:
            names = partitions.partition_names(conn, RAW_SCHEMA, "meter_sync_snapshots")
        assert f"meter_sync_snapshots_p{old:%Y%m}" not in names
        assert f"meter_sync_snapshots_p{this_month:%Y%m}" in names


def test_a_table_made_unpartitioned_by_an_earlier_version_converts_keeping_every_row(
    conn,
) -> None:
    earlier = dataclasses.replace(
        METER_SYNC_SNAPSHOTS,
        constraints=("primary key (sync_id, meter_id)",),
        partition_by=None,
    )
    conn.execute("create schema flows_raw")
    conn.execute(earlier.create_statement())
    conn.execute(
        "create index meter_sync_snapshots_meter_polled "
        "on flows_raw.meter_sync_snapshots (meter_id, polled_at desc)"
    )
    sync_id = uuid.uuid4()
    first = datetime(2026, 6, 30, 23, 0, tzinfo=UTC)
    stamps = [first + timedelta(days=15 * n) for n in range(10)]  # 30 June to 12 November
    with conn.cursor() as cursor:
        copy_rows(
            cursor, earlier, [snapshot_row(sync_id, stamp, n) for n, stamp in enumerate(stamps)]
        )
    ensure_raw_tables(conn)  # an earlier table is left as it is
    assert not partitions.is_partitioned(conn, RAW_SCHEMA, "meter_sync_snapshots")

    assert partition_existing_table(conn, METER_SYNC_SNAPSHOTS) == len(stamps)
    assert partitions.is_partitioned(conn, RAW_SCHEMA, "meter_sync_snapshots")
    rows = partition_of_rows(conn)
    assert [stamp for stamp, _ in rows] == stamps
    assert rows[0][1] == "meter_sync_snapshots_p202606"
    assert rows[-1][1] == "meter_sync_snapshots_p202611"
    indexes = {
        name
        for (name,) in conn.execute(
            "select indexname from pg_indexes where schemaname = 'flows_raw' "
            "and tablename = 'meter_sync_snapshots'"
        )
    }
    assert {"meter_sync_snapshots_meter_polled", "meter_sync_snapshots_polled"} <= indexes
    assert partition_existing_table(conn, METER_SYNC_SNAPSHOTS) is None
