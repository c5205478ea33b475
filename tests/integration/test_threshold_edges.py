"""The operator thresholds exactly at their value and one unit either side, where SQL applies
them: the dbt views (low balance, clock drift, offline) and the fleet-health checks' queries
(clock drift, CSQ). Real PostgreSQL and the dbt CLI over raw syncs landed for the purpose.

The values are the documented defaults (dbt/dbt_project.yml's vars, the checks' Thresholds): a
comparison turned from `<` into `<=`, or the other way, moves the meter sitting on the line.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from dagster_project.defs.alerts.sensors import read_conditions
from dagster_project.defs.checks.fleet import CheckThresholds
from dagster_project.domain.rules.fleet_rules import judge_signal
from dagster_project.warehouse import connection, fleet_health
from dagster_project.warehouse.connection import scratch_database
from dagster_project.warehouse.raw_tables import METER_SYNC_SNAPSHOTS
from dagster_project.warehouse.sync_store import SyncHeader, load_sync
from tests.support.dbt_cli import run_dbt
from tests.support.registry import load_registry, registry_row

# Only the views under test and what they read, so the build stays short.
BUILD = (
    "--select",
    "+meters_low_balance",
    "+meters_clock_drift",
    "+meters_offline_recently",
    "+meter_csq",
)
# The checks' thresholds as in force: the clock-drift line is the marts' dbt var.
CHECKS = CheckThresholds().thresholds()
SYNCS = 3  # landed 50, 30 and 10 minutes before the build


@dataclass(frozen=True)
class Meter:
    """A registry meter and what it reads in each of the SYNCS syncs, oldest first."""

    row: dict[str, str]
    balance: tuple[Decimal, ...] = (Decimal("40.00000"),) * SYNCS
    drift: tuple[int, ...] = (0,) * SYNCS
    csq: tuple[int, ...] = (20,) * SYNCS

    @property
    def serial(self) -> str:
        return self.row["serial"]

    @property
    def id(self) -> uuid.UUID:
        return uuid.UUID(self.row["id"])


def meters(first: int, values: list[Any], field: str) -> dict[Any, Meter]:
    """One meter per value, numbered from `first`, reading that value in every sync."""
    return {
        value: Meter(registry_row(first + n), **{field: (value,) * SYNCS})
        for n, value in enumerate(values)
    }


# Low balance: under £15.00 (var low_balance_threshold_gbp).
BALANCE = meters(60, [Decimal("14.99"), Decimal("15.00"), Decimal("15.01")], "balance")
# Clock drift: 60 s or more either way (var clock_drift_threshold_seconds, and the check's warn).
DRIFT = meters(70, [59, 60, 61, -59, -60, -61], "drift")
# A drift that grew 59 -> 60 -> 61: it has drifted since the reading of exactly 60 s.
DRIFTING = Meter(registry_row(80), drift=(59, 60, 61))
# CSQ under 10 (the check's floor); the steady history keeps the median at the value itself.
CSQ = meters(90, [9, 10, 11], "csq")
# CSQ 8 or more below the 7-day median of 20 (the check's drop): at 11, 12 and 13.
CSQ_DROP = {now: Meter(registry_row(100 + now), csq=(20, 20, now)) for now in (11, 12, 13)}
# Offline: no contact for 3 hours (var offline_after_hours); recently: within 24 hours
# (var offline_recent_hours). Their contact is set relative to the query's own now().
SECOND = timedelta(seconds=1)
OFFLINE_AFTER, RECENT = timedelta(hours=3), timedelta(hours=24)
EDGES: tuple[timedelta, ...] = (OFFLINE_AFTER - SECOND, OFFLINE_AFTER, OFFLINE_AFTER + SECOND)
EDGES += (RECENT - SECOND, RECENT, RECENT + SECOND)
OFFLINE = {ago: Meter(registry_row(120 + n)) for n, ago in enumerate(EDGES)}
ALL = [
    *BALANCE.values(),
    *DRIFT.values(),
    DRIFTING,
    *CSQ.values(),
    *CSQ_DROP.values(),
    *OFFLINE.values(),
]


def snapshot(meter: Meter, sync: int, sync_id: uuid.UUID, at: datetime) -> tuple:
    values = dict.fromkeys(METER_SYNC_SNAPSHOTS.column_names)
    values.update(
        sync_id=sync_id,
        meter_id=meter.id,
        serial=meter.serial,
        polled_at=at,
        finished_at=at,
        outcome="ok",
        balance=meter.balance[sync],
        emergency_credit=Decimal("15.00000"),
        clock_time_diff_seconds=meter.drift[sync],
        csq=meter.csq[sync],
    )
    return tuple(values[name] for name in METER_SYNC_SNAPSHOTS.column_names)


@dataclass(frozen=True)
class Built:
    url: str
    sync_times: list[datetime]


@pytest.fixture(scope="module")
def built(database_url: str) -> Iterator[Built]:
    """The meters' three syncs landed in a database of this module's own, and the views built."""
    with scratch_database(database_url, "flows_edges") as url:
        load_registry(url, [meter.row for meter in ALL])
        start = datetime.now(UTC).replace(microsecond=0)
        times = [start - timedelta(minutes=minutes) for minutes in (50, 30, 10)]
        with connection.connect(url) as conn:
            for sync, at in enumerate(times):
                sync_id = uuid.uuid4()
                rows = [snapshot(meter, sync, sync_id, at) for meter in ALL]
                load_sync(conn, SyncHeader(sync_id, at, at, len(rows), 0, 0, None), rows)
        result = run_dbt(url, "run", *BUILD)
        assert result.returncode == 0, result.stdout[-4000:]
        yield Built(url, times)


@pytest.fixture
def conn(built: Built) -> Iterator[psycopg.Connection]:
    with connection.connect(built.url, autocommit=True) as conn:
        yield conn


def serials(rows: list[tuple]) -> set[str]:
    return {row[0] for row in rows}


def test_low_balance_is_under_15_pounds_not_at_it(built: Built, conn: psycopg.Connection) -> None:
    listed = serials(conn.execute("select serial from flows.meters_low_balance").fetchall())
    assert listed == {BALANCE[Decimal("14.99")].serial}
    # The alerts sensor reads the view as it is: the same meter, and only it.
    with connection.connect(built.url) as sensor_conn:
        alerted = {row["serial"] for row in read_conditions(sensor_conn)["low_balance"]}
    assert alerted == listed


def test_clock_drift_view_lists_60_seconds_either_way_not_59(conn: psycopg.Connection) -> None:
    listed = serials(conn.execute("select serial from flows.meters_clock_drift").fetchall())
    expected = {DRIFT[seconds].serial for seconds in (60, 61, -60, -61)} | {DRIFTING.serial}
    assert listed == expected


def test_clock_drift_check_lists_from_its_warn_threshold_and_since_the_first_reading_at_it(
    built: Built, conn: psycopg.Connection
) -> None:
    drifts = {d.serial: d for d in fleet_health.clock_drifts(conn, CHECKS.clock_drift_warn_seconds)}
    expected = {DRIFT[seconds].serial for seconds in (60, 61, -60, -61)} | {DRIFTING.serial}
    assert set(drifts) == expected
    # 59 s was within the limit, 60 s already out: the drift runs from the second sync.
    assert drifts[DRIFTING.serial].since == built.sync_times[1]
    assert drifts[DRIFTING.serial].drift_seconds == 61


def test_csq_check_lists_under_its_floor_and_from_its_drop_below_the_median(
    conn: psycopg.Connection,
) -> None:
    drops = fleet_health.signal_drops(
        conn, CHECKS.csq_floor, CHECKS.csq_drop, CHECKS.csq_median_days
    )
    assert {d.serial for d in drops} == {CSQ[9].serial, CSQ_DROP[11].serial, CSQ_DROP[12].serial}
    reasons = {m["serial"]: m["reason"] for m in judge_signal(drops, CHECKS).meters}
    assert reasons[CSQ[9].serial] == f"under {CHECKS.csq_floor}"
    assert reasons[CSQ_DROP[12].serial] == "20 -> 12"


def test_offline_from_3_hours_and_recently_within_24_hours(conn: psycopg.Connection) -> None:
    # The views compare with now(), which stays the transaction's start throughout it: the last
    # contact set here at now() minus an offset is exactly that far back when the views are read.
    # The views read meter_shadows as they would after a sync; the change is rolled back.
    with conn.transaction(force_rollback=True):
        for ago, meter in OFFLINE.items():
            # In seconds: an interval of '1 day' would follow the session's clock changes.
            conn.execute(
                "update flows.meter_shadows "
                "set last_contact_at = now() - make_interval(secs => %s) where id = %s",
                (ago.total_seconds(), meter.id),
            )
        offline = conn.execute("select serial, minutes_offline from flows.meters_offline_all")
        minutes = dict(offline.fetchall())
        recently = serials(
            conn.execute("select serial from flows.meters_offline_recently").fetchall()
        )

    assert minutes == {
        OFFLINE[ago].serial: ago // timedelta(minutes=1)
        for ago in (OFFLINE_AFTER, OFFLINE_AFTER + SECOND, RECENT - SECOND, RECENT, RECENT + SECOND)
    }
    assert recently == {
        OFFLINE[ago].serial
        for ago in (OFFLINE_AFTER, OFFLINE_AFTER + SECOND, RECENT - SECOND, RECENT)
    }
