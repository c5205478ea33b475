"""The fleet sync and the daily logs against simulated meters and a real PostgreSQL."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from dagster import materialize

from dagster_project.defs.meter_logs.assets import (
    PROFILE_LOG_1,
    PROFILE_LOG_2,
    meter_event_log,
    profile_log_1,
    profile_log_2,
)
from dagster_project.defs.registry.assets import meter_registry_raw
from dagster_project.defs.resources import WarehouseResource
from dagster_project.domain.fleet_buckets import parse_bucket_key
from dagster_project.simulator import FleetConfig
from tests.support.fleet_thread import FleetThread
from tests.support.settings import SYNC, code_location, registry_source, warehouse
from tests.support.simulated import QUICK_EMOP

FAULTS = {1: "offline", 2: "nak", 3: "silent"}
PASSIVE = 5


def resources() -> dict:
    # Built when a test runs: the session's database is set by then.
    return {
        "warehouse": warehouse(),
        "registry_source": registry_source(),
        "emop": QUICK_EMOP,
    }


@pytest.fixture(scope="module")
def fleet_thread():
    # Port 0: the OS picks free ports, so parallel test runs never collide on 8080.
    config = FleetConfig(
        meters=10, seed=404, faults=FAULTS, freeze_model=True, history_days=2, port=0
    )
    thread = FleetThread(config)
    with thread:
        yield thread


@pytest.fixture(scope="module")
def registry_csv(fleet_thread, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fleet") / "registry.csv"
    fleet_thread.fleet.write_registry_csv(path)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    rows[PASSIVE]["mode"] = "passive"  # a digital twin: must never be contacted
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


ALL_BUCKETS = SYNC.partitions.get_partition_keys()


def registry_config(path: Path) -> dict:
    return {"ops": {"flows_raw__meter_registry": {"config": {"csv_path": str(path)}}}}


@pytest.fixture(scope="module")
def synced(registry_csv) -> str:
    result = materialize(
        [meter_registry_raw, SYNC.meter_sync],
        resources=resources(),
        run_config=registry_config(registry_csv),
        tags=SYNC.all_buckets_tags(),
    )
    assert result.success
    # The run read every bucket: each partition is recorded, with the run's metadata.
    materializations = result.asset_materializations_for_node("flows_raw__meter_sync_snapshots")
    assert sorted(m.partition for m in materializations) == ALL_BUCKETS
    return materializations[0].metadata


def sync_ids(synced) -> list[str]:
    return synced["sync_id"].value.split(", ")


def snapshots(db: psycopg.Connection, ids: list[str]) -> dict[str, dict]:
    cursor = db.execute(
        "select * from flows_raw.meter_sync_snapshots where sync_id = any(%s::uuid[])", (ids,)
    )
    names = [column.name for column in cursor.description]
    return {row[names.index("serial")]: dict(zip(names, row, strict=True)) for row in cursor}


def test_sync_lands_one_row_per_registry_meter_with_the_right_outcome(synced, fleet_thread, db):
    rows = snapshots(db, sync_ids(synced))
    meters = fleet_thread.fleet.meters
    assert set(rows) == {meter.serial for meter in meters}

    for meter in meters:
        row = rows[meter.serial]
        if meter.index == PASSIVE:
            assert row["outcome"] == "skipped"
            assert row["balance"] is None and row["csq"] is None
        elif meter.fault is None:
            truth = meter.ground_truth()
            assert row["outcome"] == "ok" and row["error_class"] is None
            assert row["balance"] == truth.prepay_balance
            assert row["emergency_credit"] == truth.tariffs_active.prepayment_emergency_credit
            assert row["csq"] == truth.csq and row["voltage"] == truth.voltage
            assert row["import_a"] == truth.element_a.active_import_wh
            assert row["import_b"] == truth.element_b.active_import_wh
            assert row["hardware"] == truth.hardware and row["firmware"] == truth.firmware
            assert row["dst_enabled"] is truth.dst_enabled
            assert abs(row["clock_time_diff_seconds"] - truth.clock_time_diff_seconds) <= 1
            assert row["tariffs_active"] == truth.tariffs_active.to_json()
            assert row["tariffs_future"] == truth.tariffs_future.to_json()
            assert Decimal(str(row["tariffs_active"]["standing_charge"])) == (
                truth.tariffs_active.standing_charge
            )

    assert rows[meters[1].serial]["error_class"] == "ConnectionRefusedByMeter"
    assert rows[meters[3].serial]["error_class"] == "MeterTimeoutError"
    # A meter that refuses one object was reached: partial, and everything else it said lands.
    nak = rows[meters[2].serial]
    assert nak["outcome"] == "partial" and nak["error_class"] == "NakError"
    truth = meters[2].ground_truth()
    assert nak["balance"] == truth.prepay_balance
    assert nak["csq"] == truth.csq
    assert abs(nak["clock_time_diff_seconds"] - truth.clock_time_diff_seconds) <= 1
    assert nak["voltage"] is None
    assert set(nak["object_errors"]) == {"instantaneous_voltage"}
    assert "voltage" not in nak["values_read"] and "balance" in nak["values_read"]
    for index in (1, 3):
        assert meters[index].serial in rows[meters[index].serial]["error_message"]


def test_sync_metadata_reads_at_a_glance(synced, fleet_thread) -> None:
    assert synced["meters_ok"].value == 7
    assert synced["meters_partial"].value == 1
    assert synced["meters_failed"].value == 2
    assert synced["meters_skipped"].value == 1
    errors = synced["errors"].value
    for index, kind in ((1, "ConnectionRefusedByMeter"), (3, "MeterTimeoutError"), (2, "NakError")):
        assert kind in errors and fleet_thread.fleet.meters[index].serial in errors
    assert "| serial | seconds |" in synced["slowest_meters"].value


def test_sync_header_counts_match_the_rows(synced, db) -> None:
    header = db.execute(
        "select sum(meters_ok)::int, sum(meters_failed)::int, sum(meters_skipped)::int "
        "from flows_raw.meter_syncs where sync_id = any(%s::uuid[])",
        (sync_ids(synced),),
    ).fetchone()
    assert header == (7, 2, 1)  # the partial read counts as reached


def test_each_bucket_lands_as_a_sync_of_its_own_meters(synced, db) -> None:
    rows = db.execute(
        "select syncs.bucket, syncs.meters_ok + syncs.meters_failed + syncs.meters_skipped, "
        "array_agg(snapshots.meter_id) "
        "from flows_raw.meter_syncs as syncs "
        "join flows_raw.meter_sync_snapshots as snapshots using (sync_id) "
        "where syncs.sync_id = any(%s::uuid[]) group by syncs.sync_id",
        (sync_ids(synced),),
    ).fetchall()
    assert sorted(bucket for bucket, _, _ in rows) == ALL_BUCKETS
    landed = 0
    for key, counted, meter_ids in rows:
        bucket = parse_bucket_key(key)
        assert all(bucket.holds(meter_id) for meter_id in meter_ids), key
        assert counted == len(meter_ids)
        landed += len(meter_ids)
    assert landed == 10


def partition_window(days_ago: int) -> tuple[str, datetime, datetime]:
    day = datetime.now(UTC).date() - timedelta(days=days_ago)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return day.isoformat(), start, start + timedelta(days=1)


def profile_rows(db: psycopg.Connection, fleet, start: datetime, end: datetime) -> list[tuple]:
    """This fleet's rows only: other tests share the session's database."""
    return db.execute(
        "select serial, record_timestamp, status, import_a_wh, import_b_wh "
        "from flows_raw.profile_log_1 where record_timestamp >= %s and record_timestamp < %s "
        "and serial = any(%s) order by serial, record_timestamp",
        (start, end, [meter.serial for meter in fleet.meters]),
    ).fetchall()


def test_yesterdays_profile_log_is_complete_and_rerunning_changes_nothing(
    synced, fleet_thread, db
) -> None:
    key, start, end = partition_window(days_ago=1)
    for _ in range(2):
        result = materialize([profile_log_1], resources=resources(), partition_key=key)
        assert result.success
    rows = profile_rows(db, fleet_thread.fleet, start, end)
    meters = fleet_thread.fleet.meters
    readable = {m.serial for m in meters if m.fault in (None, "nak") and m.index != PASSIVE}
    assert {row[0] for row in rows} == readable
    per_meter = {serial: [r for r in rows if r[0] == serial] for serial in readable}
    for serial, records in per_meter.items():
        assert len(records) == 48, serial  # a whole UTC day of half-hours, no duplicates
        imports = [r[3] for r in records]
        assert imports == sorted(imports)

    # The meter goes offline; a re-run keeps what was landed for it rather than dropping it.
    fleet_thread.call(fleet_thread.fleet.set_fault(0, "offline"))
    try:
        result = materialize([profile_log_1], resources=resources(), partition_key=key)
    finally:
        fleet_thread.call(fleet_thread.fleet.set_fault(0, None))
    assert result.success
    assert profile_rows(db, fleet_thread.fleet, start, end) == rows
    (materialization,) = result.asset_materializations_for_node("flows_raw__profile_log_1")
    assert materialization.metadata["meters_failed"].value == 3  # offline, silent, meter 0


def export_rows(db: psycopg.Connection, fleet, start: datetime, end: datetime) -> list[tuple]:
    return db.execute(
        "select serial, record_timestamp, export_a_wh, reactive_import_a_varh, voltage_raw, "
        "export_b_wh from flows_raw.profile_log_2 "
        "where record_timestamp >= %s and record_timestamp < %s and serial = any(%s) "
        "order by serial, record_timestamp",
        (start, end, [meter.serial for meter in fleet.meters]),
    ).fetchall()


def test_yesterdays_profile_log_2_is_complete_split_by_hardware_and_idempotent(
    synced, fleet_thread, db
) -> None:
    key, start, end = partition_window(days_ago=1)
    for _ in range(2):
        result = materialize([profile_log_2], resources=resources(), partition_key=key)
        assert result.success
    rows = export_rows(db, fleet_thread.fleet, start, end)
    meters = fleet_thread.fleet.meters
    readable = {m.serial: m for m in meters if m.fault in (None, "nak") and m.index != PASSIVE}
    assert {row[0] for row in rows} == set(readable)
    for serial, meter in readable.items():
        records = [r for r in rows if r[0] == serial]
        assert len(records) == 48, serial  # a whole UTC day of half-hours, no duplicates
        exports = [r[2] for r in records]
        assert None not in exports and exports == sorted(exports)  # cumulative, never back
        assert all(r[4] is not None and r[4] > 0 for r in records)  # a voltage every half-hour
        # A twin-element record is 34 bytes with element B; a single-element one 22 without.
        twin = meter.spec.twin_element
        assert all((r[5] is not None) == twin for r in records), serial


def test_the_daily_logs_read_profile_log_2_after_log_1() -> None:
    # One profile-log read at a time per meter: the job orders the two logs.
    graph = code_location().resolve_asset_graph()
    assert PROFILE_LOG_1 in graph.get(PROFILE_LOG_2).parent_keys


def test_event_log_partition_is_idempotent(synced, fleet_thread, db) -> None:
    key, start, end = partition_window(days_ago=1)
    counts = []
    for _ in range(2):
        assert materialize([meter_event_log], resources=resources(), partition_key=key).success
        counts.append(
            db.execute(
                "select count(*), count(distinct (meter_id, event_timestamp, event_id, event_set)) "
                "from flows_raw.meter_event_log "
                "where event_timestamp >= %s and event_timestamp < %s and serial = any(%s)",
                (start, end, [meter.serial for meter in fleet_thread.fleet.meters]),
            ).fetchone()
        )
    assert counts[0] == counts[1]
    assert counts[0][0] == counts[0][1] > 0


def test_a_database_that_cannot_be_written_fails_the_run_and_says_so(registry_csv) -> None:
    dead = WarehouseResource(database_url="postgresql://flows@127.0.0.1:9/flows?connect_timeout=2")
    result = materialize(
        [SYNC.meter_sync],
        resources={"warehouse": dead, "registry_source": registry_source(), "emop": QUICK_EMOP},
        raise_on_error=False,
        tags=SYNC.all_buckets_tags(),
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = str(failure.step_failure_data.error)
    assert "could not read the registry from the database" in message
    assert "127.0.0.1:9" in message
