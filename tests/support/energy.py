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


def build(url: str, *select: str, full_refresh: bool = False) -> None:
    result = run_dbt(url, "run", *(["--full-refresh"] if full_refresh else []), "--select", *select)
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


def days_not_summing_their_half_hours(db: psycopg.Connection) -> list[tuple]:
    """The rows of flows.register_interval_daily that differ from its half-hours summed again
    by UK day from flows.register_interval_hh, and the days missing from it: empty when the
    incremental build kept the days right."""
    return db.execute(
        """
        with summed as (
            select
                register_id,
                ("timestamp" at time zone 'Europe/London')::date as date,
                coalesce(sum(import_kwh) filter (where quality in ('actual', 'estimated')), 0)
                    as import_kwh,
                coalesce(
                    sum(export_kwh) filter (where export_quality in ('actual', 'estimated')), 0
                ) as export_kwh,
                count(*) filter (where quality = 'actual') as actual,
                count(*) filter (where quality = 'estimated') as estimated,
                count(*) filter (where quality = 'suspect') as suspect
            from flows.register_interval_hh
            group by 1, 2
        ),
        days as (
            select
                register_id, date, import_kwh, export_kwh, half_hours_actual,
                half_hours_estimated, half_hours_suspect
            from flows.register_interval_daily
        )
        (select 'daily' as side, * from days except all select 'daily', * from summed)
        union all
        (select 'half-hours', * from summed except all select 'half-hours', * from days)
        """
    ).fetchall()


def meter_days_not_summing_their_registers(db: psycopg.Connection) -> list[tuple]:
    """The rows of flows.meter_consumption_daily that differ from the meter's registers' days
    (flows.register_interval_daily) summed again, and the meter days missing from it."""
    return db.execute(
        """
        with summed as (
            select
                meter_id, date, sum(import_kwh) as import_kwh, sum(export_kwh) as export_kwh,
                round(sum(half_hours_actual)::numeric / sum(half_hours_expected), 4),
                round(sum(half_hours_missing)::numeric / sum(half_hours_expected), 4)
            from flows.register_interval_daily
            group by 1, 2
        ),
        days as (
            select meter_id, date, import_kwh, export_kwh, actual_share, missing_share
            from flows.meter_consumption_daily
        )
        (select 'meters' as side, * from days except all select 'meters', * from summed)
        union all
        (select 'registers', * from summed except all select 'registers', * from days)
        """
    ).fetchall()
