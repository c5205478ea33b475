"""A day's profile-log records, one per timestamp, before they land."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from dagster_project.domain.fleet_sync import RegisteredMeter
from dagster_project.domain.profile_log import distinct_records
from dagster_project.emop.data import ProfileLog1Record, ProfileLog2Record
from dagster_project.services.logs import profile_2_rows, profile_rows
from dagster_project.warehouse.raw_tables import PROFILE_LOG_1, PROFILE_LOG_2

T0 = datetime(2026, 10, 25, tzinfo=UTC)


def record(minutes: int, import_a: int) -> ProfileLog1Record:
    return ProfileLog1Record(T0 + timedelta(minutes=minutes), 0x8000, import_a, None)


def test_one_record_per_timestamp_the_first_kept_and_conflicts_said() -> None:
    records = [record(0, 100), record(30, 150), record(30, 150), record(60, 200), record(60, 999)]
    distinct = distinct_records(records)
    assert [(d.record.import_a_wh, d.conflicting) for d in distinct] == [
        (100, False),
        (150, False),  # an identical copy is the same record
        (200, True),  # the first of two that disagree, marked
    ]
    assert distinct_records([]) == []


def test_rows_are_in_the_raw_tables_column_order_one_per_timestamp() -> None:
    meter = RegisteredMeter(uuid.uuid4(), "EML0000000001", "127.0.0.1", 8080, "active")
    rows = profile_rows(meter, [record(0, 1), record(0, 2)], T0)
    assert len(rows) == 1
    named = dict(zip(PROFILE_LOG_1.column_names, rows[0], strict=True))
    assert (named["import_a_wh"], named["conflicting_duplicate"], named["loaded_at"]) == (
        1,
        True,
        T0,
    )
    log_2 = ProfileLog2Record(T0, 0x8000, 7, 0, 0, 2386)
    (row,) = profile_2_rows(meter, [log_2, log_2], T0)
    named = dict(zip(PROFILE_LOG_2.column_names, row, strict=True))
    assert (named["export_a_wh"], named["voltage_raw"], named["conflicting_duplicate"]) == (
        7,
        2386,
        False,
    )
