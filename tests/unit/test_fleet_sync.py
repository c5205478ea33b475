"""What a sync lands and reports, without a database or a network."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from dagster_project.domain.fleet_buckets import Bucket
from dagster_project.domain.fleet_sync import (
    RegisteredMeter,
    SyncSummary,
    buckets_markdown,
    errors_markdown,
    skipped_row,
    snapshot_row,
    summarize,
    sync_id_for_run,
    total,
    values_read,
)
from dagster_project.emop import objects as o
from dagster_project.emop.errors import ConnectionRefusedByMeter, MeterUnreachableError, NakError
from dagster_project.emop.state import MeterEndpoint, MeterState
from dagster_project.emop.tariffs import ACTIVE_TARIFF_OBJECTS, FUTURE_TARIFF_OBJECTS, Tariff
from dagster_project.emop.values import ElementRegisters
from dagster_project.warehouse.raw_tables import METER_SYNC_SNAPSHOTS

T0 = datetime(2026, 10, 25, 0, 59, 50, tzinfo=UTC)
SYNC = uuid.UUID(int=7)
TARIFF = Tariff(*(Decimal(v) for v in ("0.51082", "0.2843", "0.15", "10", "0.25", "15")))


def meter(number: int, mode: str = "active") -> RegisteredMeter:
    return RegisteredMeter(
        uuid.UUID(int=number), f"EML{number:010d}", "127.0.1.1", 8080, mode, "C1.w"
    )


def state(number: int, seconds: float = 1.0, **values) -> MeterState:
    endpoint = meter(number).endpoint
    return MeterState(
        meter=endpoint, polled_at=T0, finished_at=T0 + timedelta(seconds=seconds), **values
    )


def as_dict(values: dict) -> dict:
    """The row as the table stores it: every column, in order (a name it lacks raises)."""
    row = METER_SYNC_SNAPSHOTS.row(values)
    return dict(zip(METER_SYNC_SNAPSHOTS.column_names, row, strict=True))


def test_a_full_read_is_ok_and_every_value_has_its_column() -> None:
    full = state(
        1,
        serial="EML0000000001",
        prepay_balance=Decimal("-3.25000"),
        clock_time_diff_seconds=-90061,
        csq=17,
        element_a=ElementRegisters(486339, 2240, 0, 0),
        element_b=ElementRegisters(0, 0, 0, 0),
        tariffs_active=TARIFF,
    )
    row = as_dict(snapshot_row(SYNC, meter(1), full))
    assert row["outcome"] == "ok" and row["error_class"] is None
    assert row["balance"] == Decimal("-3.25000")
    assert row["emergency_credit"] == Decimal("15")
    assert row["clock_time_diff_seconds"] == -90061
    assert (row["import_a"], row["export_a"], row["import_b"]) == (486339, 2240, 0)
    assert row["tariffs_active"]["unit_rate_element_a"] == 0.2843
    assert row["tariffs_future"] is None


def test_a_failed_read_names_the_cause_not_its_consequences() -> None:
    refused = ConnectionRefusedByMeter("connection refused", meter="EML1", object_name="serial")
    later = MeterUnreachableError("not read", meter="EML1", object_name="csq_net_op")
    row = as_dict(
        snapshot_row(SYNC, meter(1), state(1, errors={"csq_net_op": later, "serial": refused}))
    )
    assert row["outcome"] == "failed"
    assert row["error_class"] == "ConnectionRefusedByMeter"
    assert "connection refused" in row["error_message"]
    assert set(row["object_errors"]) == {"serial", "csq_net_op"}


def test_passive_meters_are_skipped_with_no_values() -> None:
    row = as_dict(skipped_row(SYNC, meter(2, mode="passive"), T0))
    assert row["outcome"] == "skipped" and "passive" in row["error_message"]
    values = {k: v for k, v in row.items() if k not in {"sync_id", "meter_id", "serial",
              "polled_at", "finished_at", "outcome", "error_message"}}  # fmt: skip
    assert set(values.values()) == {None}


def test_summary_groups_errors_by_class_and_ranks_the_slowest() -> None:
    nak = NakError(5, meter="EML3", object_name="instantaneous_voltage")
    refused = ConnectionRefusedByMeter("refused")
    states = [
        state(1, seconds=50),
        state(2, seconds=70, errors={"serial": refused}),
        state(3, seconds=60, errors={"instantaneous_voltage": nak}),
        state(4, seconds=55, errors={"serial": ConnectionRefusedByMeter("refused")}),
    ]
    for s, number in zip(states, (1, 2, 3, 4), strict=True):
        s.meter = MeterEndpoint("127.0.1.1", 8080, f"EML{number:010d}")
    summary = summarize(states, skipped=2, started=T0, finished=T0 + timedelta(seconds=75))
    assert (summary.ok, summary.failed, summary.skipped) == (1, 3, 2)
    assert summary.errors_by_class == {
        "ConnectionRefusedByMeter": ["EML0000000002", "EML0000000004"],
        "NakError": ["EML0000000003"],
    }
    assert [serial for serial, _ in summary.slowest][:2] == ["EML0000000002", "EML0000000003"]
    assert summary.duration_seconds == 75
    text = errors_markdown(summary)
    assert "| ConnectionRefusedByMeter | 2 | EML0000000002, EML0000000004 |" in text


def test_one_sync_id_per_run_and_bucket() -> None:
    same = sync_id_for_run("run-a", "00-of-04")
    assert same == sync_id_for_run("run-a", "00-of-04")
    assert same != sync_id_for_run("run-b", "00-of-04")
    assert same != sync_id_for_run("run-a", "01-of-04")


def test_the_buckets_of_one_run_add_up_to_one_summary() -> None:
    first = SyncSummary(
        ok=3,
        failed=1,
        skipped=1,
        duration_seconds=40.0,
        errors_by_class={"NakError": ["EML2"]},
        slowest=[("EML2", 9.0), ("EML1", 2.0)],
    )
    second = SyncSummary(
        ok=2,
        failed=2,
        duration_seconds=41.0,
        errors_by_class={"MeterTimeoutError": ["EML7", "EML5"], "NakError": ["EML4"]},
        slowest=[("EML7", 10.0), ("EML5", 10.0)],
    )
    combined = total([first, second], slowest=3)
    assert (combined.ok, combined.failed, combined.skipped) == (5, 3, 1)
    assert combined.duration_seconds == 41.0  # the buckets were read at the same time
    assert combined.errors_by_class == {
        "MeterTimeoutError": ["EML5", "EML7"],
        "NakError": ["EML2", "EML4"],
    }
    assert [serial for serial, _ in combined.slowest] == ["EML7", "EML5", "EML2"]


def test_the_bucket_table_has_a_line_per_bucket_in_key_order() -> None:
    table = buckets_markdown(
        {Bucket(1, 2): SyncSummary(ok=4, failed=1), Bucket(0, 2): SyncSummary(ok=5, skipped=2)}
    )
    assert table.splitlines()[2:] == ["| 00-of-02 | 5 | 0 | 2 |", "| 01-of-02 | 4 | 1 | 0 |"]


def test_a_meter_that_refuses_one_object_is_partial_and_lands_what_it_read() -> None:
    refused = NakError(5, meter="EML1", object_name="prepay_balance")
    read = [o.SERIAL, o.HARDWARE, o.CSQ, o.CLOCK, *ACTIVE_TARIFF_OBJECTS.values()]
    partial = state(
        1,
        serial="EML0000000001",
        csq=12,
        clock_time_diff_seconds=-4,
        tariffs_active=TARIFF,
        read_ok=[obj.name for obj in read],
        errors={"prepay_balance": refused},
    )
    row = as_dict(snapshot_row(SYNC, meter(1), partial))
    assert row["outcome"] == "partial"
    assert (row["error_class"], set(row["object_errors"])) == ("NakError", {"prepay_balance"})
    assert (row["csq"], row["clock_time_diff_seconds"], row["balance"]) == (12, -4, None)
    assert row["values_read"] == ["csq", "clock", "hardware", "tariffs_active"]
    # Contact counts as reached: the summary counts it ok, and partial.
    summary = summarize([partial], skipped=0, started=T0, finished=T0)
    assert (summary.ok, summary.partial, summary.failed) == (1, 1, 0)


def test_a_future_set_read_empty_is_read_though_null() -> None:
    future = state(1, read_ok=[obj.name for obj in FUTURE_TARIFF_OBJECTS.values()])
    row = as_dict(snapshot_row(SYNC, meter(1), future))
    assert row["tariffs_future"] is None and row["values_read"] == ["tariffs_future"]
    # One object of the set missing: not read.
    names = [obj.name for obj in FUTURE_TARIFF_OBJECTS.values()][1:]
    assert values_read(state(1, read_ok=names)) == []


def test_a_value_named_for_no_column_is_refused_not_dropped() -> None:
    with pytest.raises(KeyError, match="meter_sync_snapshots has no column balanse"):
        METER_SYNC_SNAPSHOTS.row({"serial": "EML0000000001", "balanse": Decimal(1)})
