"""Crafted raw syncs for the raw-snapshot checks: a clean one, and a malformed one whose bad rows
the structure check must name; landed and dropped again straight through PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from dagster_project.warehouse import connection
from dagster_project.warehouse.raw_tables import METER_SYNC_SNAPSHOTS as SNAPSHOTS_TABLE
from dagster_project.warehouse.raw_tables import METER_SYNCS
from dagster_project.warehouse.sync_store import SyncHeader, load_sync
from tests.support.registry import registry_row

# The crafted syncs' meters: the registry the raw-check tests' dbt runs build from.
METERS = [
    registry_row(number, ip_address=f"127.0.6.{number + 1}", hardware="")
    for number in range(40, 46)
]
TARIFF = {
    "standing_charge": 0.5868,
    "unit_rate_element_a": 0.2843,
    "unit_rate_element_b": 0.15,
    "prepayment_ecredit_availability": 10.0,
    "prepayment_debt_recovery_rate": 0.25,
    "prepayment_emergency_credit": 15.0,
}
FUTURE_TARIFF = {**TARIFF, "standing_charge": 0.61, "activation_datetime": "2027-06-01T00:00:00"}
CLEAN_BALANCE = Decimal("12.34000")
MALFORMED_BALANCE = Decimal("7.77000")
# What the structure check must name for a malformed sync: expectation -> serials, exactly.
MALFORMED_NAMES = {
    "serial_format": ["XYZ1"],
    "polled_at_not_in_future": [METERS[1]["serial"]],
    "tariffs_active_shape": [METERS[2]["serial"]],
    "tariffs_future_shape": [METERS[3]["serial"]],
    "one_row_per_serial": [METERS[4]["serial"]] * 2,
}


def snapshot(sync_id: uuid.UUID, meter: dict[str, str], at: datetime, **overrides: Any) -> tuple:
    """A good read of `meter` just before `at`, as a raw snapshot row, with some overrides."""
    values = dict.fromkeys(SNAPSHOTS_TABLE.column_names)
    values.update(
        sync_id=sync_id,
        meter_id=uuid.UUID(meter["id"]),
        serial=meter["serial"],
        polled_at=at - timedelta(seconds=30),
        finished_at=at - timedelta(seconds=28),
        outcome="ok",
        balance=CLEAN_BALANCE,
        emergency_credit=Decimal("15.00000"),
        clock_time_diff_seconds=-2,
        csq=17,
        voltage=Decimal("241.3"),
        tariffs_active=TARIFF,
        tariffs_future=FUTURE_TARIFF,
    )
    values.update(overrides)
    return tuple(values[name] for name in SNAPSHOTS_TABLE.column_names)


def crafted_rows(sync_id: uuid.UUID, malformed: bool) -> list[tuple]:
    """One ok row per meter; malformed: the bad rows MALFORMED_NAMES lists, other balances."""
    at = datetime.now(UTC)
    if not malformed:
        return [snapshot(sync_id, meter, at) for meter in METERS]
    broken: list[dict[str, Any]] = [
        {"serial": "XYZ1"},
        {"polled_at": at + timedelta(hours=1)},
        {"tariffs_active": {k: v for k, v in TARIFF.items() if k != "standing_charge"}},
        {"tariffs_future": {**FUTURE_TARIFF, "unit_rate_element_a": "0.30"}},
    ]
    broken += [{}] * (len(METERS) - len(broken))
    rows = [
        snapshot(sync_id, meter, at, balance=MALFORMED_BALANCE, **change)
        for meter, change in zip(METERS, broken, strict=True)
    ]
    # The same meter twice: the primary key refuses a repeated meter_id, so under a second id.
    rows.append(snapshot(sync_id, METERS[4], at, meter_id=uuid.uuid4()))
    return rows


#: The crafted syncs stand for a run of the whole fleet as one bucket.
CRAFTED_BUCKET = "00-of-01"


def land(
    conn: psycopg.Connection, sync_id: uuid.UUID, rows: list[tuple], run_id: str | None
) -> None:
    """The rows as one sync, landed by the run `run_id` (None: landed outside any run)."""
    now = datetime.now(UTC)
    header = SyncHeader(sync_id, now - timedelta(minutes=1), now, len(rows), 0, 0, run_id)
    load_sync(conn, header, rows)


def forget(database_url: str, *sync_ids: uuid.UUID) -> None:
    """Drop crafted syncs, so no later dbt run in the session builds from their bad rows."""
    with connection.connect(database_url) as conn, conn.transaction():
        for table in (SNAPSHOTS_TABLE, METER_SYNCS):
            conn.execute(
                sql.SQL("delete from {} where sync_id = any(%s)").format(table.identifier),
                (list(sync_ids),),
            )
