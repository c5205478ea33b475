"""A device at a meter's registered address that says it is another meter (a swapped SIM, a
reassigned address): the sync keeps nothing it says, an error check names both serials, and a
top-up token queued for the registered meter is never written to it, before or after an
operator resolves the mismatch, as long as the device still says it is someone else."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from dagster import AssetCheckSeverity, materialize

from dagster_project.defs.checks.fleet import CheckThresholds, identity_mismatch_check
from dagster_project.defs.registry.assets import meter_registry_raw
from dagster_project.defs.resources import WarehouseResource
from dagster_project.domain.tariff_push import WriteRetryPolicy
from dagster_project.services.write_path import run_write_path, writes_blocked
from dagster_project.simulator import FleetConfig
from dagster_project.warehouse import connection
from dagster_project.warehouse.connection import scratch_database
from dagster_project.warehouse.write_store import insert_token
from tests.support.fleet_thread import FleetThread
from tests.support.flows_cli import flows
from tests.support.settings import SYNC, registry_source
from tests.support.simulated import QUICK_EMOP

#: The registry says this serial lives at meter 1's address; the device there is meter 1.
REGISTERED = "EML2999999999"
TOKEN = "00700111122223333444"  # £7.00 on the simulator


@pytest.fixture(scope="module")
def fleet_thread() -> Iterator[FleetThread]:
    thread = FleetThread(FleetConfig(meters=3, seed=41, freeze_model=True, port=0))
    with thread:
        yield thread


@pytest.fixture(scope="module")
def swapped(
    fleet_thread: FleetThread, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    fleet = fleet_thread.fleet
    path = tmp_path_factory.mktemp("identity") / "registry.csv"
    fleet.write_registry_csv(path)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    rows[1].update(serial=REGISTERED, mode="active", prepay_enabled="true")
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    with scratch_database(database_url, "flows_identity") as url:
        yield url, path


def sync(url: str, registry: Path):
    result = materialize(
        [meter_registry_raw, SYNC.meter_sync, identity_mismatch_check],
        resources={
            "warehouse": WarehouseResource(database_url=url),
            "registry_source": registry_source(),
            "emop": QUICK_EMOP,
            "check_thresholds": CheckThresholds(),
        },
        run_config={"ops": {"flows_raw__meter_registry": {"config": {"csv_path": str(registry)}}}},
        tags=SYNC.all_buckets_tags(),
    )
    assert result.success
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_a_device_reporting_another_serial_lands_nothing_blocks_writes_and_is_an_error(
    fleet_thread: FleetThread, swapped: tuple[str, Path]
) -> None:
    url, registry = swapped
    device = fleet_thread.fleet.meters[1]
    balance_before = device.ground_truth().prepay_balance

    evaluation = sync(url, registry)
    assert not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR
    table = evaluation.metadata["meters"].value
    assert REGISTERED in table and device.serial in table

    with connection.connect(url, autocommit=True) as conn:
        snapshot = conn.execute(
            "select outcome, error_class, error_message, balance, csq, serial, hardware, "
            "clock_time_diff_seconds, tariffs_active from flows_raw.meter_sync_snapshots "
            "where serial = %s",
            (REGISTERED,),
        ).fetchone()
        assert snapshot[:2] == ("failed", "IdentityMismatchError")
        assert REGISTERED in snapshot[2] and device.serial in snapshot[2]
        assert snapshot[3:5] == (None, None) and snapshot[6:] == (None, None, None)
        others = conn.execute(
            "select count(*) from flows_raw.meter_sync_snapshots where outcome = 'ok'"
        ).fetchone()
        assert others == (2,)  # the two meters registered right are read as usual

        queue_token(conn, REGISTERED)
        report = write_path(url)
        assert report.token_outcomes == {}
        assert "identity mismatch" in report.waiting[REGISTERED]
        assert "flows identity resolve" in report.waiting[REGISTERED]
        assert topup_attempts(conn) == 0
    assert device.ground_truth().prepay_balance == balance_before

    env = {**os.environ, "FLOWS_DATABASE_URL": url}
    listed = flows("identity", env=env).stdout
    assert REGISTERED in listed and device.serial in listed
    unknown = flows("identity", "resolve", "EML2000000001", "--by", "ops", env=env, check=False)
    assert unknown.returncode == 2 and "not in the registry" in unknown.stderr
    resolved = flows("identity", "resolve", REGISTERED, "--by", "ops", env=env)
    assert "writes resume" in resolved.stdout
    assert "no unresolved identity mismatch" in flows("identity", env=env).stdout

    # Resolved, but the device still says it is someone else: the write path's own
    # conversation checks the serial first, so the token is still not written.
    report = write_path(url)
    assert report.token_outcomes == {"not_sent": 1}
    ((serial, what, problem),) = report.problems
    assert (serial, what) == (REGISTERED, "token ...3444")
    assert "not sent" in problem and "identity mismatch" in problem
    assert device.ground_truth().prepay_balance == balance_before

    # The next sync sees the mismatch again, and it blocks writes again.
    assert not sync(url, registry).passed
    assert device.serial in flows("identity", env=env).stdout
    with connection.connect(url, autocommit=True) as conn:
        assert blocked_reason(conn) is not None


def queue_token(conn: psycopg.Connection, serial: str) -> None:
    (meter_id,) = conn.execute(
        "select id from flows_raw.meter_registry where serial = %s", (serial,)
    ).fetchone()
    insert_token(
        conn,
        meter_id=meter_id,
        serial=serial,
        token=TOKEN,
        requested_by="test",
        requested_at=datetime.now(UTC),
    )


def write_path(url: str):
    with connection.connect(url, autocommit=True) as conn:
        report = run_write_path(
            conn, QUICK_EMOP.client_settings(), WriteRetryPolicy(), clock=lambda: datetime.now(UTC)
        )
    assert report is not None
    return report


def blocked_reason(conn: psycopg.Connection) -> str | None:
    (meter_id,) = conn.execute(
        "select id from flows_raw.meter_registry where serial = %s", (REGISTERED,)
    ).fetchone()
    return writes_blocked(conn).get(meter_id)


def topup_attempts(conn: psycopg.Connection) -> int:
    return conn.execute("select count(*) from flows_raw.topup_log").fetchone()[0]
