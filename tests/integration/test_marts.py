"""The `flows` marts over a known history: the Meter Domain page's queries, run verbatim, return
what a hand computation over the raw rows says they should."""

from __future__ import annotations

import csv
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from dagster import materialize

from dagster_project.defs.dbt.assets import PRODUCTION_DBT_BUILD_EXCLUDES
from dagster_project.defs.registry.assets import meter_registry_raw
from dagster_project.paths import DBT_PROJECT_DIR, DEMO_REGISTRY_CSV
from dagster_project.warehouse import connection
from dagster_project.warehouse.raw_tables import METER_SYNC_SNAPSHOTS
from dagster_project.warehouse.sync_store import SyncHeader, load_sync
from tests.support.dbt_cli import run_dbt, target_path
from tests.support.settings import registry_source, warehouse

# The Meter Domain page's queries, as published.
GET_METER_STATUS = """
SELECT 
mr.serial,
mr.name,
ms.balance,
ms.health,
ms.csq,
ms.updated_at
FROM flows.meter_registry mr
JOIN flows.meter_shadows ms ON mr.id = ms.id
WHERE mr.serial = 'EML2137580826';
"""
BALANCE_HISTORY_7_DAYS = """
SELECT timestamp, balance, emergency_credit
FROM flows.meter_prepay_balance
WHERE meter_id = '{{meter_id}}'
AND timestamp > NOW() - INTERVAL '7 days'
ORDER BY timestamp DESC;
"""
LOW_BALANCE_UNDER_5 = """
SELECT * FROM flows.meters_low_balance
WHERE balance < 5.00; -- Meters under £5
"""
OFFLINE_RECENTLY = """
SELECT serial, last_online, 
EXTRACT(EPOCH FROM (NOW() - last_online))/60 as minutes_offline
FROM flows.meters_offline_recently
WHERE last_online < NOW() - INTERVAL '1 hour';
"""
DAILY_BALANCE_SUMMARY = """
SELECT
DATE(timestamp) as day,
MIN(balance) as min_balance,
MAX(balance) as max_balance,
AVG(balance) as avg_balance
FROM flows.meter_prepay_balance
WHERE meter_id = '{{meter_id}}'
AND timestamp > NOW() - INTERVAL '30 days'
GROUP BY DATE(timestamp)
ORDER BY day DESC;
"""

NOW = datetime.now(UTC).replace(microsecond=0)


def demo_meters() -> dict[str, dict[str, str]]:
    with DEMO_REGISTRY_CSV.open(newline="") as f:
        return {row["serial"]: row for row in csv.DictReader(f)}


METERS = demo_meters()
STATUS_METER = METERS["EML2137580826"]  # the page's example serial: low balance, last read failed
RECENTLY_OFFLINE = METERS["EML2137580761"]  # last contact 5 hours ago
LONG_OFFLINE = METERS["EML2137580917"]  # last contact 30 hours ago
HEALTHY = METERS["EML2241000317"]
PASSIVE = METERS["EML2137581102"]
# Answers every sync, but an hour ago refused its balance (NAK) while giving the rest.
PARTIAL = METERS["EML2241000333"]
PARTIAL_READ = {
    "outcome": "partial",
    "error_class": "NakError",
    "error_message": "meter answered NAK code 5 (OBJECT_NOT_RECOGNISED)",
    "object_errors": {"prepay_balance": {"kind": "NakError", "message": "NAK 5"}},
    "values_read": ["csq", "clock", "hardware", "tariffs_active", "tariffs_future"],
    "balance": None,
    "emergency_credit": Decimal("15.00000"),
    "csq": 9,
    "clock_time_diff_seconds": 33,
    "tariffs_active": {"standing_charge": 0.51082},
}

# (hours ago, balance or None for a failed read) per meter; every other active meter answers
# every sync with £40.
HISTORY: dict[str, list[tuple[float, Decimal | None]]] = {
    STATUS_METER["serial"]: [
        (50, Decimal("20.00000")),
        (26, Decimal("20.00000")),  # unchanged: no history row
        (2, Decimal("4.50000")),
        (1, None),  # failed: the shadow keeps £4.50
    ],
    RECENTLY_OFFLINE["serial"]: [
        (6, Decimal("12.00000")),
        (5, Decimal("11.00000")),
        (4, None),
        (1, None),
    ],
    LONG_OFFLINE["serial"]: [(30, Decimal("3.00000")), (1, None)],
    HEALTHY["serial"]: [(1, Decimal("30.00000"))],
    PARTIAL["serial"]: [(30, Decimal("25.00000")), (1, None)],
}
SINGLE_EXCHANGED = METERS["EML2137581044"]  # registry says EMA1.w, the meter reports C1.w
NO_DST = METERS["EML2241000325"]  # daylight saving correction off
TARIFF = {
    "standing_charge": 0.5868,
    "unit_rate_element_a": 0.2843,
    "unit_rate_element_b": 0.15,
    "prepayment_ecredit_availability": 10.0,
    "prepayment_debt_recovery_rate": 0.25,
    "prepayment_emergency_credit": 15.0,
}
# A summer activation: UK local time is BST, an hour ahead of UTC.
FUTURE_TARIFF = {**TARIFF, "standing_charge": 0.61, "activation_datetime": "2027-06-01T00:00:00"}
# Values each meter reads besides its balance, where they differ from every other meter's.
READINGS: dict[str, dict] = {
    HEALTHY["serial"]: {"clock_time_diff_seconds": 75},
    LONG_OFFLINE["serial"]: {"clock_time_diff_seconds": -130},
    STATUS_METER["serial"]: {"tariffs_active": TARIFF, "tariffs_future": FUTURE_TARIFF},
    NO_DST["serial"]: {"tariffs_future": FUTURE_TARIFF},
    SINGLE_EXCHANGED["serial"]: {"hardware": "C1.w"},
}
SYNC_HOURS_AGO = sorted({hours for rows in HISTORY.values() for hours, _ in rows}, reverse=True)


def snapshot(sync_id: uuid.UUID, meter: dict[str, str], hours_ago: float, balance) -> tuple:
    values = dict.fromkeys(METER_SYNC_SNAPSHOTS.column_names)
    values.update(
        sync_id=sync_id,
        meter_id=uuid.UUID(meter["id"]),
        serial=meter["serial"],
        polled_at=NOW - timedelta(hours=hours_ago),
    )
    if meter["mode"] == "passive":
        values.update(outcome="skipped")
    elif meter is PARTIAL and balance is None:
        values.update(PARTIAL_READ, hardware=meter["hardware"])
    elif balance is None:
        values.update(outcome="failed", error_class="MeterTimeoutError", error_message="no answer")
    else:
        values.update(
            outcome="ok",
            balance=balance,
            emergency_credit=Decimal("15.00000"),
            csq=17,
            clock_time_diff_seconds=-4,
            tariffs_active={"standing_charge": 0.51082},
            hardware=meter["hardware"],
        )
        values.update(READINGS.get(meter["serial"], {}))
    return tuple(values[name] for name in METER_SYNC_SNAPSHOTS.column_names)


@pytest.fixture(scope="module")
def marts(database_url: str) -> None:
    result = materialize(
        [meter_registry_raw],
        resources={"warehouse": warehouse(), "registry_source": registry_source()},
        run_config={
            "ops": {"flows_raw__meter_registry": {"config": {"csv_path": str(DEMO_REGISTRY_CSV)}}}
        },
    )
    assert result.success
    with connection.connect(database_url) as conn:
        for hours_ago in SYNC_HOURS_AGO:
            sync_id = uuid.uuid4()
            rows = []
            for serial, meter in METERS.items():
                history = dict(HISTORY.get(serial, [(hours_ago, Decimal("40.00000"))]))
                if meter["mode"] == "passive" or hours_ago in history or serial not in HISTORY:
                    rows.append(snapshot(sync_id, meter, hours_ago, history.get(hours_ago)))
            at = NOW - timedelta(hours=hours_ago)
            load_sync(conn, SyncHeader(sync_id, at, at, 0, 0, 0, None), rows)
    # A full refresh: this history is older than what other tests of the session synced.
    build = run_dbt(database_url, "build", "--full-refresh", *PRODUCTION_DBT_BUILD_EXCLUDES)
    assert build.returncode == 0, build.stdout[-4000:]


@pytest.mark.usefixtures("marts")
def test_the_sources_tests_pass(database_url: str) -> None:
    # Left out of production builds: the raw tables' constraints hold what they test.
    result = run_dbt(database_url, "test", "--select", "source:*")
    assert result.returncode == 0, result.stdout[-4000:]
    passed = re.search(r"PASS=(\d+) ", result.stdout)
    assert passed and int(passed[1]) >= 12 and " ERROR=0 " in result.stdout  # 12 on the sources


@pytest.mark.usefixtures("marts")
def test_dbt_unit_tests_pass(database_url: str) -> None:
    # Unit tests of incremental models need the model built first, so they run after the build
    # (and never in production: the Dagster asset excludes them).
    result = run_dbt(database_url, "test", "--select", "test_type:unit")
    assert result.returncode == 0, result.stdout[-4000:]
    assert "PASS=" in result.stdout and " ERROR=0 " in result.stdout


def query(db: psycopg.Connection, text: str, meter: dict[str, str] | None = None) -> list[tuple]:
    if meter is not None:
        text = text.replace("{{meter_id}}", meter["id"])
    return db.execute(text).fetchall()


@pytest.mark.usefixtures("marts")
def test_get_meter_status_keeps_the_last_good_balance(db) -> None:
    ((serial, name, balance, health, csq, updated_at),) = query(db, GET_METER_STATUS)
    assert (serial, name) == (STATUS_METER["serial"], STATUS_METER["name"])
    assert balance == Decimal("4.50000")  # the failed read an hour ago blanked nothing
    assert health == "unhealthy" and csq == 17
    assert updated_at == NOW - timedelta(hours=1)


@pytest.mark.usefixtures("marts")
def test_balance_history_holds_only_changes(db) -> None:
    rows = query(db, BALANCE_HISTORY_7_DAYS, STATUS_METER)
    assert rows == [
        (NOW - timedelta(hours=2), Decimal("4.50000"), Decimal("15.00000")),
        (NOW - timedelta(hours=50), Decimal("20.00000"), Decimal("15.00000")),
    ]


@pytest.mark.usefixtures("marts")
def test_history_marts_are_indexed_for_per_meter_time_ranges(db) -> None:
    query = (
        "select indexdef from pg_indexes where schemaname = 'flows' and tablename = %s "
        "and indexdef like 'CREATE UNIQUE INDEX%%(meter_id, \"timestamp\")'"
    )
    for mart in ("meter_prepay_balance", "meter_csq", "meter_voltage", "meter_health_history"):
        assert db.execute(query, (mart,)).fetchall(), mart


@pytest.mark.usefixtures("marts")
def test_low_balance_lists_prepay_meters_under_the_amount(db) -> None:
    rows = query(db, LOW_BALANCE_UNDER_5)
    assert sorted((r[1], r[4]) for r in rows) == sorted(
        [(LONG_OFFLINE["serial"], Decimal("3.00000")), (STATUS_METER["serial"], Decimal("4.50000"))]
    )
    under_15 = {row[0] for row in query(db, "select serial from flows.meters_low_balance")}
    assert under_15 == {STATUS_METER["serial"], LONG_OFFLINE["serial"], RECENTLY_OFFLINE["serial"]}


@pytest.mark.usefixtures("marts")
def test_offline_recently_is_the_window_between_3_and_24_hours(db) -> None:
    last_online = NOW - timedelta(hours=5)
    before = datetime.now(UTC)
    rows = query(db, OFFLINE_RECENTLY)
    after = datetime.now(UTC)
    assert [(serial, last) for serial, last, _ in rows] == [
        (RECENTLY_OFFLINE["serial"], last_online)
    ]
    # Minutes since last contact, as of the query (the history was built earlier in the session).
    minutes = float(rows[0][2])
    assert (before - last_online).total_seconds() / 60 - 1 <= minutes
    assert minutes <= (after - last_online).total_seconds() / 60 + 1
    offline_all = {row[0] for row in query(db, "select serial from flows.meters_offline_all")}
    assert offline_all == {RECENTLY_OFFLINE["serial"], LONG_OFFLINE["serial"]}


@pytest.mark.usefixtures("marts")
def test_daily_balance_summary_query_runs_on_the_history(db) -> None:
    rows = query(db, DAILY_BALANCE_SUMMARY, STATUS_METER)
    history = [
        (NOW - timedelta(hours=2), Decimal("4.5")),
        (NOW - timedelta(hours=50), Decimal("20")),
    ]
    expected: dict = {}
    for at, balance in history:
        expected.setdefault(at.date(), []).append(balance)
    # DATE() takes the session's time zone, UTC here.
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (day, min(b), max(b)) for day, b in sorted(expected.items(), reverse=True)
    ]


@pytest.mark.usefixtures("marts")
def test_every_registry_meter_has_one_shadow(db) -> None:
    shadows = dict(
        db.execute(
            "select r.serial, s.health from flows.meter_registry r "
            "join flows.meter_shadows s using (id)"
        ).fetchall()
    )
    assert set(shadows) == set(METERS)
    assert shadows[PASSIVE["serial"]] is None  # never polled
    assert shadows[HEALTHY["serial"]] == "healthy"


@pytest.mark.usefixtures("marts")
def test_tariffs_view_spreads_active_and_future_sets(db) -> None:
    rows = db.execute(
        "select serial, active_standing_charge, active_unit_rate_a, active_unit_rate_b, "
        "active_ecredit_availability, active_debt_recovery_rate, active_emergency_credit, "
        "future_standing_charge, future_activation_datetime "
        "from flows.meter_shadows_tariffs join flows.meter_registry using (id) "
        "where serial in (%s, %s) order by serial",
        (STATUS_METER["serial"], NO_DST["serial"]),
    ).fetchall()
    status_meter, no_dst = rows  # serials in order
    assert status_meter[1:8] == tuple(
        Decimal(str(value))
        for value in (0.5868, 0.2843, 0.15, 10.0, 0.25, 15.0, FUTURE_TARIFF["standing_charge"])
    )
    # Midnight UK time on 1 June is 23:00 UTC the day before; a meter without DST keeps GMT.
    assert status_meter[8] == datetime(2027, 5, 31, 23, 0, tzinfo=UTC)
    assert no_dst[8] == datetime(2027, 6, 1, 0, 0, tzinfo=UTC)
    assert no_dst[1:3] == (Decimal("0.51082"), None)  # a key missing from the JSON is empty


@pytest.mark.usefixtures("marts")
def test_clock_drift_lists_meters_a_minute_or_more_out_either_way(db) -> None:
    rows = db.execute("select serial, clock_time_diff_seconds from flows.meters_clock_drift")
    assert sorted(rows.fetchall()) == sorted(
        [(HEALTHY["serial"], 75), (LONG_OFFLINE["serial"], -130)]
    )


@pytest.mark.usefixtures("marts")
def test_registers_follow_each_meters_model(db) -> None:
    rows = db.execute(
        "select serial, element, status from flows.meter_registers "
        "join flows.meter_registry on meter_registry.id = meter_registers.meter_id"
    ).fetchall()
    registers: dict[str, set[tuple[str, str]]] = {}
    for serial, element, status in rows:
        registers.setdefault(serial, set()).add((element, status))
    for serial, meter in METERS.items():
        if serial == SINGLE_EXCHANGED["serial"]:
            continue
        twin = meter["hardware"] == "C1.w"
        expected = {("A", "enabled"), ("B", "enabled")} if twin else {("SINGLE", "enabled")}
        assert registers[serial] == expected, serial
    assert registers[SINGLE_EXCHANGED["serial"]] == {
        ("A", "enabled"),
        ("B", "enabled"),
        ("SINGLE", "replaced"),
    }


@pytest.mark.usefixtures("marts")
def test_docs_generate_and_every_mart_column_is_described(database_url: str) -> None:
    result = run_dbt(database_url, "docs", "generate")
    assert result.returncode == 0, result.stdout[-4000:]
    target = DBT_PROJECT_DIR / target_path()
    catalog = json.loads((target / "catalog.json").read_text())
    manifest = json.loads((target / "manifest.json").read_text())
    undescribed = []
    marts = [node for node in catalog["nodes"].values() if node["metadata"]["schema"] == "flows"]
    built = {node["unique_id"] for node in marts}
    assert built == {
        unique_id
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["schema"] == "flows"
    }
    for node in marts:
        unique_id = node["unique_id"]
        documented = manifest["nodes"][unique_id]
        assert documented["description"], unique_id
        for column in node["columns"]:
            if not documented["columns"].get(column, {}).get("description"):
                undescribed.append(f"{unique_id}.{column}")
    assert undescribed == []


@pytest.mark.usefixtures("marts")
def test_a_partial_read_is_contact_and_moves_on_every_value_it_got(db) -> None:
    row = db.execute(
        "select s.balance, s.balance_updated_at, s.csq, s.clock_time_diff_seconds, s.health, "
        "s.health_details, s.last_contact_at, s.last_healthy_at from flows.meter_shadows s "
        "join flows.meter_registry r using (id) where r.serial = %s",
        (PARTIAL["serial"],),
    ).fetchone()
    balance, balance_at, csq, drift, health, details, contact, healthy = row
    # The balance it refused keeps its last good value; what it did answer is current.
    assert (balance, balance_at) == (Decimal("25.00000"), NOW - timedelta(hours=30))
    assert (csq, drift) == (9, 33)
    assert health == "partial"
    assert details.startswith("partial, failed objects: prepay_balance; NakError: ")
    assert contact == NOW - timedelta(hours=1) and healthy == NOW - timedelta(hours=30)
    offline = {row[0] for row in query(db, "select serial from flows.meters_offline_all")}
    assert PARTIAL["serial"] not in offline
