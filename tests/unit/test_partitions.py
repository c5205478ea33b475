"""Month partitions: which months a table needs, their names, and which ones have expired."""

from __future__ import annotations

from datetime import date

from dagster_project.warehouse.partitions import (
    MonthPartition,
    add_months,
    expired_months,
    month_of_partition,
    months_around,
    months_between,
)


def test_months_roll_over_the_year_both_ways() -> None:
    assert add_months(date(2026, 12, 1), 1) == date(2027, 1, 1)
    assert add_months(date(2027, 1, 1), -1) == date(2026, 12, 1)
    assert add_months(date(2026, 11, 1), -13) == date(2025, 10, 1)


def test_a_table_has_last_month_this_month_and_two_ahead() -> None:
    assert [m.first_day for m in months_around(date(2026, 12, 31))] == [
        date(2026, 11, 1),
        date(2026, 12, 1),
        date(2027, 1, 1),
        date(2027, 2, 1),
    ]


def test_months_between_include_both_ends_whatever_the_day() -> None:
    months = months_between(date(2026, 10, 25), date(2027, 1, 1))
    assert [m.first_day for m in months] == [
        date(2026, 10, 1),
        date(2026, 11, 1),
        date(2026, 12, 1),
        date(2027, 1, 1),
    ]


def test_partition_names_carry_their_month_and_only_ours_are_read() -> None:
    month = MonthPartition(date(2026, 3, 1))
    assert month.name("meter_sync_snapshots") == "meter_sync_snapshots_p202603"
    assert month.next_first_day == date(2026, 4, 1)
    assert month_of_partition("meter_sync_snapshots_p202603", "meter_sync_snapshots") == date(
        2026, 3, 1
    )
    assert month_of_partition("meter_sync_snapshots_default", "meter_sync_snapshots") is None
    assert month_of_partition("profile_log_1_p202603", "meter_sync_snapshots") is None


def test_only_whole_months_before_the_cutoff_expire() -> None:
    names = [
        "meter_sync_snapshots_p202510",
        "meter_sync_snapshots_p202511",
        "meter_sync_snapshots_p202512",
        "meter_sync_snapshots_default",
        "meter_sync_snapshots_p202512_old",
    ]
    assert expired_months(names, "meter_sync_snapshots", date(2025, 12, 1)) == [
        "meter_sync_snapshots_p202510",
        "meter_sync_snapshots_p202511",
    ]
