"""Simulated meters whose profile logs the daily-logs assets download into a test's own
database, for the tests of the energy marts and of what is built on them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
from dagster import materialize
from psycopg import sql

from dagster_project.defs.meter_logs.assets import profile_log_1, profile_log_2
from dagster_project.defs.resources import WarehouseResource
from dagster_project.domain.registry import parse_registry_csv
from dagster_project.simulator import FleetConfig
from dagster_project.warehouse import connection
from dagster_project.warehouse.connection import scratch_database
from dagster_project.warehouse.raw_tables import ensure_raw_tables
from dagster_project.warehouse.registry_store import replace_registry
from tests.support.dbt_cli import run_dbt
from tests.support.fleet_thread import FleetThread
from tests.support.settings import current_settings, embedded_server
from tests.support.simulated import QUICK_EMOP


@contextmanager
def energy_database() -> Iterator[str]:
    """A database of its own: the energy build's state must see only this test's logs."""
    server_url = current_settings().database_url or embedded_server().start()
    with scratch_database(server_url, "flows_energy") as url:
        yield url


def serve(sim_origin: datetime, history_days: int) -> FleetThread:
    # Frozen: the meters' logs stay as they were at sim_origin, so every download agrees.
    return FleetThread(
        FleetConfig(
            meters=4,
            seed=77,
            sim_origin=sim_origin,
            freeze_model=True,
            history_days=history_days,
            port=0,
        )
    )


def elements(meter) -> tuple[str, ...]:
    return ("A", "B") if meter.spec.twin_element else ("SINGLE",)


def load_registry(url: str, fleet, tmp_path: Path) -> None:
    path = tmp_path / "registry.csv"
    fleet.write_registry_csv(path)
    parsed = parse_registry_csv(path.read_text().splitlines(keepends=True))
    with connection.connect(url) as conn:
        ensure_raw_tables(conn)
        replace_registry(conn, parsed.meters, [], "registry.csv", datetime.now(UTC))


def download(url: str, *days: str) -> None:
    resources = {"warehouse": WarehouseResource(database_url=url), "emop": QUICK_EMOP}
    for day in days:
        for log in (profile_log_1, profile_log_2):
            assert materialize([log], resources=resources, partition_key=day).success


def build(url: str, *select: str) -> None:
    result = run_dbt(url, "run", "--select", *select)
    assert result.returncode == 0, result.stdout[-4000:]


def read_kwh(
    db: psycopg.Connection, serial: str, element: str, start: datetime, end: datetime
) -> Decimal:
    """A register's import between two instants from its raw profile-log reads, kWh (to the
    Wh): what the marts' half-hours between them must add up to."""
    column = sql.Identifier("import_b_wh" if element == "B" else "import_a_wh")
    reads = dict(
        db.execute(
            sql.SQL(
                "select record_timestamp, {} from flows_raw.profile_log_1 "
                "where serial = %s and record_timestamp = any(%s)"
            ).format(column),
            (serial, [start, end]),
        ).fetchall()
    )
    return Decimal(reads[end] - reads[start]) / 1000
