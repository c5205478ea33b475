"""The meters' event log for BI tools: flows.meter_event_log has each landed event once with its
type named from flows.meter_event_types, 48 as a top-up and an id no list names as UNKNOWN_<id>;
being a view, a query for some meters and days reads only those days' raw partitions."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from dagster_project.defs.dbt.assets import PRODUCTION_DBT_BUILD_EXCLUDES
from dagster_project.domain.fleet_sync import RegisteredMeter
from dagster_project.emop.data import EventLogEntry
from dagster_project.services.logs import event_rows
from dagster_project.warehouse import connection, partitions
from dagster_project.warehouse.connection import scratch_database
from dagster_project.warehouse.sync_store import load_event_log
from tests.support.dbt_cli import run_dbt
from tests.support.registry import load_registry, registry_row

NOW = datetime.now(UTC).replace(microsecond=0)
# Every id the event types list: the meter maker's, plus 48 and 52.
LISTED = {
    *range(1, 12), *range(15, 45), 48, 52, *range(61, 79), 80, 81, *range(83, 100), 104, 105,
}  # fmt: skip

METERS = {"twin": registry_row(0), "single": registry_row(1, hardware="B1.w")}
# A meter whose clock was reset logs events in 2000: they land in the raw default partition.
CLOCK_RESET = datetime(2000, 1, 1, 0, 5, tzinfo=UTC)
# Per meter, (when, event id, event set) as the meter's log pages give them.
EVENTS: dict[str, list[tuple[datetime, int, int]]] = {
    "twin": [
        (NOW - timedelta(hours=30), 33, 1),  # EVENT_POWER_UP
        (NOW - timedelta(hours=26), 38, 4),  # DAILY_LOG_SNAPSHOT
        (NOW - timedelta(hours=26), 52, 9),  # seen beside the snapshots, meaning unknown
        (NOW - timedelta(hours=3), 48, 7),  # a top-up
        (NOW - timedelta(hours=2), 48, 8),  # another
    ],
    "single": [
        (CLOCK_RESET, 34, 2),
        (NOW - timedelta(hours=5), 200, 1),  # in no list
        (NOW - timedelta(hours=4), 39, 12),  # BILLING_LOG_SNAPSHOT
    ],
}


def registered(meter: str) -> RegisteredMeter:
    row = METERS[meter]
    return RegisteredMeter(uuid.UUID(row["id"]), row["serial"], row["ip_address"], 8000, "active")


def land_events(url: str) -> None:
    """The events as the daily logs job lands a meter's downloaded pages."""
    window = (CLOCK_RESET, NOW + timedelta(minutes=1))
    with connection.connect(url) as conn:
        for meter, events in EVENTS.items():
            entries = [EventLogEntry(at, event_id, event_set) for at, event_id, event_set in events]
            rows = event_rows(registered(meter), entries, NOW)
            load_event_log(conn, window, [registered(meter).id], rows)
        conn.commit()


@pytest.fixture(scope="module")
def url(database_url: str) -> Iterator[str]:
    """A database of this module's own: no other test's events in its log."""
    with scratch_database(database_url, "flows_event_log") as private_url:
        load_registry(private_url, list(METERS.values()))
        land_events(private_url)
        build = run_dbt(private_url, "build", *PRODUCTION_DBT_BUILD_EXCLUDES)
        assert build.returncode == 0, build.stdout[-4000:]
        yield private_url


@pytest.fixture
def conn(url: str) -> Iterator[psycopg.Connection]:
    with connection.connect(url, autocommit=True) as conn:
        yield conn


def event_log(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cursor:
        return cursor.execute('select * from flows.meter_event_log order by "timestamp"').fetchall()


def test_every_landed_event_has_one_row_with_its_type_named(conn) -> None:
    names = {
        (row["serial"], row["timestamp"], row["event_type"], row["event_set"]): (
            row["event_type_name"],
            row["is_topup"],
        )
        for row in event_log(conn)
    }
    landed = {
        (METERS[meter]["serial"], at, event_id, event_set)
        for meter, events in EVENTS.items()
        for at, event_id, event_set in events
    }
    assert set(names) == landed and len(event_log(conn)) == len(landed)
    by_type = {(event_type, name, topup) for (_, _, event_type, _), (name, topup) in names.items()}
    assert by_type == {
        (33, "EVENT_POWER_UP", False),
        (34, "EVENT_POWER_DN", False),
        (38, "DAILY_LOG_SNAPSHOT", False),
        (39, "BILLING_LOG_SNAPSHOT", False),
        (48, "CREDIT_TOKEN_ACCEPTED", True),
        (52, "UNKNOWN_52", False),
        (200, "UNKNOWN_200", False),
    }


def test_a_meters_topups_are_counted_by_is_topup(conn) -> None:
    (count,) = conn.execute(
        "select count(*) filter (where is_topup) from flows.meter_event_log where meter_id = %s",
        (registered("twin").id,),
    ).fetchone()
    assert count == 2


def test_the_event_types_list_every_known_id_once(conn) -> None:
    with conn.cursor(row_factory=dict_row) as cursor:
        rows = cursor.execute("select * from flows.meter_event_types").fetchall()
    types = {row["event_type"]: row for row in rows}
    assert len(types) == len(rows) and set(types) == LISTED  # 0, the invalid id, is not there
    assert {row["source"] for row in rows if row["event_type"] not in (48, 52)} == {"vendor"}
    assert (types[48]["name"], types[48]["source"]) == ("CREDIT_TOKEN_ACCEPTED", "inferred")
    assert (types[52]["name"], types[52]["source"]) == ("UNKNOWN_52", "observed")
    assert types[52]["description"] and types[48]["description"]
    assert types[1]["name"] == "BM_OVER_CURRENT" and types[105]["name"] == "AUTO_ROAMING_DISABLE"


def test_bi_tools_may_read_the_event_log_and_its_types(conn) -> None:
    for relation in ("flows.meter_event_log", "flows.meter_event_types"):
        query = "select has_table_privilege('flows_bi', %s, 'select')"
        assert conn.execute(query, (relation,)).fetchone() == (True,), relation


def raw_scans(plan: dict[str, Any]) -> set[tuple[str, str]]:
    """(node type, relation) of every scan of a raw event-log partition in a JSON plan."""
    found = set()
    relation = plan.get("Relation Name", "")
    if relation.startswith("meter_event_log_"):
        found.add((plan["Node Type"], relation))
    for child in plan.get("Plans", []):
        found |= raw_scans(child)
    return found


def test_a_query_for_a_meters_last_day_reads_only_that_days_partitions(conn) -> None:
    # Without the planner's preference for scanning the few rows here: what is left is whether
    # the view lets the meter and time filters reach the raw table's key and partitions.
    conn.execute("set enable_seqscan = off")
    since, until = NOW - timedelta(days=1), NOW + timedelta(minutes=1)
    ((plan,),) = conn.execute(
        "explain (format json) select event_type_name from flows.meter_event_log "
        'where meter_id = %s and "timestamp" >= %s and "timestamp" < %s',
        (registered("single").id, since, until),
    ).fetchall()
    scans = raw_scans(plan[0]["Plan"])
    months = partitions.months_between(since.date(), until.date())
    # The default partition (the clock-reset meter's events) and other months are not read.
    assert {relation for _, relation in scans} == {m.name("meter_event_log") for m in months}
    assert {node for node, _ in scans} <= {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}
