"""A known history for the incremental history marts: four meters synced every 3 hours across
the October 2026 clock change, one failing a few syncs; loaded into a database of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from dagster_project.domain.registry import parse_registry_csv
from dagster_project.warehouse import connection
from dagster_project.warehouse.connection import scratch_database
from dagster_project.warehouse.raw_tables import METER_SYNC_SNAPSHOTS, ensure_raw_tables
from dagster_project.warehouse.registry_store import replace_registry
from dagster_project.warehouse.sync_store import SyncHeader, load_sync
from tests.support.dbt_cli import run_dbt
from tests.support.registry import registry_csv, registry_row

# Every 3 hours from Friday 23 to Tuesday 27 October 2026; the clocks go back on Sunday 25th.
FIRST_SYNC = datetime(2026, 10, 23, 0, 0, tzinfo=UTC)
SYNC_TIMES = [FIRST_SYNC + timedelta(hours=3 * n) for n in range(33)]
METERS = [registry_row(n) for n in range(4)]
FLAKY_METER = 2  # fails syncs 5-7 with a timeout, then 8 with a NAK


def snapshot(sync_number: int, meter_number: int, sync_id: uuid.UUID, at: datetime) -> tuple:
    meter = METERS[meter_number]
    values = dict.fromkeys(METER_SYNC_SNAPSHOTS.column_names)
    values.update(sync_id=sync_id, meter_id=uuid.UUID(meter["id"]), serial=meter["serial"])
    values.update(polled_at=at + timedelta(seconds=20 * meter_number))
    if meter_number == FLAKY_METER and 5 <= sync_number <= 8:
        error = "MeterNakError" if sync_number == 8 else "MeterTimeoutError"
        values.update(outcome="failed", error_class=error, error_message="no reading")
        return tuple(values[name] for name in METER_SYNC_SNAPSHOTS.column_names)
    values.update(
        outcome="ok",
        # Changes every other sync, tops up every 12th.
        balance=Decimal(30) - Decimal("0.5") * (sync_number % 12 // 2) - meter_number,
        emergency_credit=Decimal(15),
        csq=12 + (sync_number // 5 + meter_number) % 3,
        voltage=Decimal(240) + (sync_number % 4 == 0) + meter_number,
    )
    return tuple(values[name] for name in METER_SYNC_SNAPSHOTS.column_names)


def load_syncs(url: str, numbers: range | list[int], shift: timedelta = timedelta(0)) -> None:
    with connection.connect(url) as conn:
        for number in numbers:
            sync_id = uuid.uuid4()
            at = SYNC_TIMES[number] + shift
            rows = [snapshot(number, m, sync_id, at) for m in range(len(METERS))]
            load_sync(conn, SyncHeader(sync_id, at, at, len(rows), 0, 0, None), rows)


def dbt_run(url: str, *args: str) -> None:
    result = run_dbt(url, "run", *args)
    assert result.returncode == 0, result.stdout[-4000:]


@contextmanager
def history_database(server_url: str) -> Iterator[str]:
    """A database of its own with the registry of METERS: the incremental state must not see
    other tests' syncs."""
    with scratch_database(server_url, "flows_incremental") as url:
        with connection.connect(url) as conn:
            ensure_raw_tables(conn)
            parsed = parse_registry_csv(registry_csv(METERS).splitlines(keepends=True))
            replace_registry(conn, parsed.meters, [], "registry.csv", FIRST_SYNC)
        yield url
