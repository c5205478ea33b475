"""The fleet-health checks against simulated meters driven into each condition: a healthy fleet
passes every check; drifting clocks, collapsing signal, a mass outage and impossible balances
are each caught, naming the meters."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dagster import AssetCheckSeverity, materialize

from dagster_project.defs.checks.fleet import (
    CheckThresholds,
    balance_anomaly_check,
    fleet_health_checks,
)
from dagster_project.defs.checks.raw import raw_snapshot_checks
from dagster_project.defs.dbt.assets import flows_dbt_models
from dagster_project.defs.meter_logs.assets import meter_event_log, profile_log_1
from dagster_project.defs.registry.assets import meter_registry_raw
from dagster_project.defs.resources import WarehouseResource, dbt_resource
from dagster_project.simulator import FleetConfig
from dagster_project.simulator.model import EVENT_TOPUP
from dagster_project.warehouse.connection import scratch_database
from tests.support.fleet_thread import FleetThread
from tests.support.settings import SYNC, registry_source
from tests.support.simulated import QUICK_EMOP

METERS = 10
MONEY = 100_000  # simulator balance units per GBP
AHEAD, BEHIND, NO_SIGNAL, FADING, TOPPED_UP_SILENTLY, OVERDRAWN = range(6)
GONE = (6, 7, 8)  # three of ten meters stop answering: 30% > 20%
SWITCHED = 9  # switched to credit mode and off daylight saving, the registry not updated
FLEET_CHECK_NAMES = {spec.name for check in fleet_health_checks for spec in check.check_specs}


@pytest.fixture(scope="module")
def private_database(database_url: str) -> Iterator[str]:
    with scratch_database(database_url, "flows_checks") as url:
        yield url


@pytest.fixture(scope="module")
def fleet_thread() -> Iterator[FleetThread]:
    config = FleetConfig(meters=METERS, seed=2026, freeze_model=True, history_days=1, port=0)
    thread = FleetThread(config)
    with thread as fleet:
        for index in range(METERS):
            fleet.meter(index).ground_truth()  # the model catches up to its frozen time first
            model = fleet.meter(index).model
            # Healthy: accurate clock, good signal, prepay with money on it.
            model.drift0, model.drift_rate = 0.0, 0.0
            model.csq_base = model.csq = 20
            model.prepay_enabled = True
            model.balance = 25 * MONEY
        # The model tops meters up at random half-hours of its history; one of those an hour
        # before the test ran would explain the silent rise. This meter's log keeps none.
        silent = fleet.meter(TOPPED_UP_SILENTLY).model
        silent.events = deque(
            (event for event in silent.events if event[1] != EVENT_TOPUP), silent.events.maxlen
        )
        yield thread


@pytest.fixture(scope="module")
def registry_csv(fleet_thread: FleetThread, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("checks") / "registry.csv"
    fleet_thread.fleet.write_registry_csv(path)
    text = path.read_text()
    # Every meter prepay, whatever the simulator drew for the registry.
    lines = text.splitlines()
    prepay = lines[0].split(",").index("prepay_enabled")
    rows = [line.split(",") for line in lines[1:]]
    for row in rows:
        row[prepay] = "true"
    path.write_text("\n".join([lines[0], *(",".join(row) for row in rows)]) + "\n")
    return path


def resources(url: str) -> dict:
    return {
        "warehouse": WarehouseResource(database_url=url),
        "registry_source": registry_source(),
        "emop": QUICK_EMOP,
        "dbt": dbt_resource(),
        "check_thresholds": CheckThresholds(),
    }


def sync_and_check(url: str, registry_csv: Path) -> dict[str, object]:
    result = materialize(
        # The raw checks too, as in the pipeline job: the marts read a sync once they pass it.
        [
            meter_registry_raw,
            SYNC.meter_sync,
            *raw_snapshot_checks,
            flows_dbt_models,
            *fleet_health_checks,
        ],
        resources=resources(url),
        run_config={
            "ops": {"flows_raw__meter_registry": {"config": {"csv_path": str(registry_csv)}}}
        },
        tags=SYNC.all_buckets_tags(),
    )
    assert result.success
    return {
        evaluation.check_name: evaluation
        for evaluation in result.get_asset_check_evaluations()
        if evaluation.check_name in FLEET_CHECK_NAMES
    }


def meters_table(evaluation) -> str:
    return evaluation.metadata["meters"].value


@pytest.fixture(scope="module")
def healthy(private_database: str, registry_csv: Path) -> list[dict[str, object]]:
    # Two syncs of the healthy fleet: each meter's signal gets a median to fall from.
    return [sync_and_check(private_database, registry_csv) for _ in range(2)]


@pytest.fixture(scope="module")
def troubled(healthy, fleet_thread: FleetThread, private_database: str, registry_csv: Path):
    fleet = fleet_thread.fleet
    fleet.meter(AHEAD).model.drift0 = 400.0
    fleet.meter(BEHIND).model.drift0 = -90.0
    fleet.meter(NO_SIGNAL).model.csq = fleet.meter(NO_SIGNAL).model.csq_base = 3
    fleet.meter(FADING).model.csq = fleet.meter(FADING).model.csq_base = 11  # 20 -> 11, not < 10
    fleet.meter(TOPPED_UP_SILENTLY).model.balance += 50 * MONEY  # no top-up event
    overdrawn = fleet.meter(OVERDRAWN).model
    overdrawn.balance = -overdrawn.active[5] - 5 * MONEY  # £5 past the emergency credit
    for index in GONE:
        fleet_thread.call(fleet.set_fault(index, "offline"))
    switched = fleet.meter(SWITCHED).model
    switched.prepay_enabled = False
    switched.dst_enabled = not switched.dst_enabled
    return sync_and_check(private_database, registry_csv)


def serial(fleet_thread: FleetThread, index: int) -> str:
    return fleet_thread.fleet.meter(index).serial


def test_a_healthy_fleet_passes_every_check(healthy) -> None:
    for evaluations in healthy:
        assert {name: e.passed for name, e in evaluations.items()} == {
            "clock_drift": True,
            "csq_drops": True,
            "fleet_outage": True,
            "balance_anomalies": True,
            "registry_meter_disagreements": True,
            "identity_mismatches": True,
        }


def test_clock_drift_names_meters_ahead_and_behind_and_errors_over_300_s(
    troubled, fleet_thread
) -> None:
    evaluation = troubled["clock_drift"]
    assert not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR
    table = meters_table(evaluation)
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()[2:]}
    assert set(rows) == {serial(fleet_thread, AHEAD), serial(fleet_thread, BEHIND)}
    assert "ahead" in rows[serial(fleet_thread, AHEAD)]
    assert "behind" in rows[serial(fleet_thread, BEHIND)]
    assert evaluation.metadata["meters_over_error"].value == 1


def test_csq_collapse_and_drop_against_the_median_are_named(troubled, fleet_thread) -> None:
    evaluation = troubled["csq_drops"]
    assert not evaluation.passed and evaluation.severity == AssetCheckSeverity.WARN
    table = meters_table(evaluation)
    assert f"| {serial(fleet_thread, NO_SIGNAL)} | 3 |" in table
    assert f"| {serial(fleet_thread, FADING)} | 11 | 20 | 20 -> 11 |" in table
    assert evaluation.metadata["meters_low_signal"].value == 2


def test_mass_outage_fails_the_sync_check_listing_the_meters(troubled, fleet_thread) -> None:
    evaluation = troubled["fleet_outage"]
    assert not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR
    assert evaluation.metadata["failed"].value == len(GONE)
    table = meters_table(evaluation)
    assert {serial(fleet_thread, index) for index in GONE} == {
        line.split(" | ")[0].strip("| ") for line in table.splitlines()[2:]
    }


def test_overdrawn_balance_is_named_and_a_rise_waits_for_the_event_log(troubled, fleet_thread):
    evaluation = troubled["balance_anomalies"]
    assert not evaluation.passed
    table = meters_table(evaluation)
    assert serial(fleet_thread, OVERDRAWN) in table
    assert serial(fleet_thread, TOPPED_UP_SILENTLY) not in table
    assert evaluation.metadata["rises_awaiting_event_log"].value == 1


def test_a_rise_the_downloaded_event_log_cannot_explain_is_named(
    troubled, fleet_thread, private_database: str
) -> None:
    today = datetime.now(UTC).date().isoformat()
    logs = materialize(
        [profile_log_1, meter_event_log],
        resources=resources(private_database),
        partition_key=today,
    )
    assert logs.success
    result = balance_anomaly_check(
        warehouse=WarehouseResource(database_url=private_database),
        check_thresholds=CheckThresholds(),
    )
    assert not result.passed
    assert f"| {serial(fleet_thread, TOPPED_UP_SILENTLY)} | rise without a top-up event |" in (
        result.metadata["meters"].value
    )
    assert result.metadata["rises_awaiting_event_log"].value == 0


def test_registry_and_meter_disagreeing_on_a_flag_warns_naming_both_values(
    troubled, fleet_thread
) -> None:
    evaluation = troubled["registry_meter_disagreements"]
    assert not evaluation.passed and evaluation.severity == AssetCheckSeverity.WARN
    rows = [line.split(" | ") for line in meters_table(evaluation).splitlines()[2:]]
    meter = serial(fleet_thread, SWITCHED)
    assert [(row[0].strip("| "), row[1]) for row in rows] == [
        (meter, "daylight_savings_correction_enabled"),
        (meter, "prepay_enabled"),
    ]
    assert rows[1][2:4] == ["True", "False"]  # registry, then meter
