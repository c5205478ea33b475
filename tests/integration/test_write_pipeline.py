"""The write path in the pipeline: requests made with the CLI's checks, sent by the Dagster asset
after a sync, and visible in the marts after the next sync and dbt build."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest
from dagster import materialize
from psycopg.types.json import set_json_loads

from dagster_project.defs.checks.raw import raw_snapshot_checks
from dagster_project.defs.registry.assets import meter_registry_raw
from dagster_project.defs.writes.assets import meter_writes
from dagster_project.defs.writes.checks import write_checks
from dagster_project.domain import tariff_requests as tr
from dagster_project.settings import DATABASE_URL
from dagster_project.simulator import FleetConfig, token_credit_units
from dagster_project.simulator.model import MONEY
from dagster_project.warehouse import connection
from dagster_project.warehouse.connection import scratch_database
from dagster_project.warehouse.tariff_store import insert_request, meters_for_target
from dagster_project.warehouse.write_store import insert_covered_meters, insert_token
from tests.support.dbt_cli import run_dbt
from tests.support.fleet_thread import FleetThread
from tests.support.settings import SYNC, registry_source, warehouse
from tests.support.simulated import QUICK_EMOP, write_fleet_registry

TOKEN = "03000123412341234123"  # £30.00 on the simulator
YEAR = datetime.now(UTC).year + 1


@pytest.fixture
def fleet() -> Iterator[FleetThread]:
    thread = FleetThread(FleetConfig(meters=3, seed=77, freeze_model=True, port=0))
    with thread:
        yield thread


@pytest.fixture
def registry(fleet: FleetThread, tmp_path: Path) -> Path:
    """The fleet's registry with every meter active and in prepayment mode, single rate."""
    return write_fleet_registry(
        fleet.fleet,
        tmp_path / "registry.csv",
        mode="active",
        prepay_enabled="true",
        hardware="B1.w",
    )


@pytest.fixture
def url(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with scratch_database(database_url, "flows_write_pipeline") as private_url:
        monkeypatch.setenv(DATABASE_URL, private_url)
        yield private_url


def sync(registry: Path, *more: object) -> dict:
    result = materialize(
        # The raw checks too, as in the pipeline job: the marts read a sync once they pass it.
        [meter_registry_raw, SYNC.meter_sync, *raw_snapshot_checks, *more],
        resources={
            "warehouse": warehouse(),
            "registry_source": registry_source(),
            "emop": QUICK_EMOP,
        },
        run_config={"ops": {"flows_raw__meter_registry": {"config": {"csv_path": str(registry)}}}},
        tags=SYNC.all_buckets_tags(),
    )
    assert result.success
    return {
        "checks": {e.check_name: e for e in result.get_asset_check_evaluations()},
        "writes": {
            event.asset_key.to_user_string(): event.materialization.metadata
            for event in result.get_asset_materialization_events()
        },
    }


def test_a_requested_tariff_and_a_queued_token_reach_the_meter_and_the_marts(
    fleet: FleetThread, registry: Path, url: str
) -> None:
    meter = fleet.fleet.meters[0]
    sync(registry)  # the registry is loaded and the meters read once

    with connection.connect(url, autocommit=True) as conn:
        set_json_loads(partial(json.loads, parse_float=Decimal), conn)
        target = tr.MeterTarget(meter.serial)
        arguments = tr.TariffArguments(
            standing_charge="0.5",
            unit_rate_element_a="0.25",
            unit_rate_element_b=None,
            prepayment_ecredit_availability="10",
            prepayment_debt_recovery_rate="0.2",
            prepayment_emergency_credit="15",
            activation=f"{YEAR}-06-01T00:00",
        )
        with conn.transaction():
            facts = meters_for_target(conn, target)
            check = tr.check_request(target, arguments, facts, datetime.now(UTC), "ops")
            assert check.ok, check.problems
            request = tr.build_request(target, check, "ops", requested_at=datetime.now(UTC))
            insert_request(conn, request)
            insert_covered_meters(conn, request, check.meters)
            insert_token(
                conn,
                meter_id=meter.spec.id,
                serial=meter.serial,
                token=TOKEN,
                requested_by="ops",
                requested_at=datetime.now(UTC),
            )
    before = meter.ground_truth().prepay_balance

    run = sync(registry, meter_writes, *write_checks)
    assert run["writes"]["flows_raw/tariff_push_log"]["tariffs_verified"].value == 1
    assert run["writes"]["flows_raw/topup_log"]["tokens_applied"].value == 1
    assert run["checks"]["tariff_changes_stuck"].passed
    assert run["checks"]["topups_given_up"].passed
    credited = before + Decimal(token_credit_units(TOKEN)) / MONEY
    assert meter.ground_truth().prepay_balance == credited

    sync(registry)  # the next sync reads the new balance and the future tariff
    build = run_dbt(url, "build", "--exclude-resource-type", "unit_test")
    assert build.returncode == 0, build.stdout[-3000:]

    with connection.connect(url) as conn:
        balances = conn.execute(
            "select balance from flows.meter_prepay_balance where meter_id = %s "
            "order by timestamp desc limit 1",
            (meter.spec.id,),
        ).fetchone()
        assert balances == (credited,)
        change = conn.execute(
            "select status, attempts, pushed_at is not null, verified_at is not null "
            "from flows.tariff_changes where request_id = %s",
            (request.request_id,),
        ).fetchone()
        assert change == ("verified", 1, True, True)
        shadow = conn.execute(
            "select pending_request_id, pending_status, future_standing_charge, "
            "future_unit_rate_a from flows.meter_shadows_tariffs where id = %s",
            (meter.spec.id,),
        ).fetchone()
        assert shadow == (request.request_id, "verified", Decimal("0.5"), Decimal("0.25"))
        topup = conn.execute("select status from flows.topups").fetchone()
        assert topup == ("applied",)
