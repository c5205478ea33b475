"""The energy checks' verdicts and the UK-day arithmetic they rest on."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from dagster_project.domain.energy_health import (
    DayCompleteness,
    FlaggedHalfHour,
    ZeroRegister,
    uk_day_half_hours,
    uk_day_start,
    uk_yesterday,
)
from dagster_project.domain.rules import energy_rules
from dagster_project.domain.rules.fleet_rules import Thresholds

THRESHOLDS = Thresholds(clock_drift_warn_seconds=60)


@pytest.mark.parametrize(
    ("day", "half_hours"),
    [
        (date(2026, 3, 29), 46),  # clocks forward
        (date(2026, 10, 25), 50),  # clocks back
        (date(2026, 3, 28), 48),
        (date(2026, 10, 26), 48),
        (date(2027, 3, 28), 46),
        (date(2027, 10, 31), 50),
        (date(2026, 7, 1), 48),
    ],
)
def test_a_uk_day_has_46_48_or_50_half_hours(day: date, half_hours: int) -> None:
    assert uk_day_half_hours(day) == half_hours


def test_uk_days_start_at_uk_midnight_in_utc() -> None:
    assert uk_day_start(date(2026, 7, 1)) == datetime(2026, 6, 30, 23, tzinfo=UTC)
    assert uk_day_start(date(2026, 12, 1)) == datetime(2026, 12, 1, tzinfo=UTC)
    # 23:30 UTC on 30 June is already 1 July in London: yesterday is 30 June.
    assert uk_yesterday(datetime(2026, 6, 30, 23, 30, tzinfo=UTC)) == date(2026, 6, 30)
    assert uk_yesterday(datetime(2026, 12, 1, 23, 30, tzinfo=UTC)) == date(2026, 11, 30)


def day(known: int, expected: int = 1000, estimated: int = 0) -> DayCompleteness:
    return DayCompleteness(
        day=date(2026, 10, 25),
        expected=expected,
        actual=known - estimated,
        estimated=estimated,
        short=[("EML0000000001", "A", 10, 50)] if known < expected else [],
    )


@pytest.mark.parametrize(
    ("known", "passed", "severity"),
    [
        (1000, True, "WARN"),
        (980, True, "WARN"),  # 98% exactly passes
        (979, False, "WARN"),
        (900, False, "WARN"),  # 90% exactly warns
        (899, False, "ERROR"),
        (0, False, "ERROR"),
    ],
)
def test_completeness_warns_under_98_percent_and_errs_under_90(
    known: int, passed: bool, severity: str
) -> None:
    verdict = energy_rules.judge_completeness(day(known), THRESHOLDS)
    assert (verdict.passed, verdict.severity) == (passed, severity)


def test_estimated_half_hours_count_as_known_and_the_short_registers_are_named() -> None:
    verdict = energy_rules.judge_completeness(day(990, estimated=200), THRESHOLDS)
    assert verdict.passed
    assert "790 actual, 200 estimated, 10 not" in verdict.summary
    assert verdict.meters == [
        {"serial": "EML0000000001", "element": "A", "known": 10, "expected": 50}
    ]
    assert energy_rules.judge_completeness(day(0, expected=0), THRESHOLDS).passed  # no meters


def flagged(serial: str, hour: int) -> FlaggedHalfHour:
    return FlaggedHalfHour(
        serial=serial,
        element="SINGLE",
        half_hour=datetime(2026, 10, 25, hour, tzinfo=UTC),
        import_kwh=None,
        rules=["negative_consumption"],
    )


def test_negative_consumption_is_an_error_naming_meters_and_half_hours() -> None:
    verdict = energy_rules.judge_negative_consumption(
        [flagged("EML2", 3), flagged("EML1", 4), flagged("EML2", 5)]
    )
    assert not verdict.passed and verdict.severity == "ERROR"
    assert "3 half-hour(s)" in verdict.summary and "2 meter(s): EML1, EML2" in verdict.summary
    assert verdict.meters[0]["half_hour"] == datetime(2026, 10, 25, 3, tzinfo=UTC)
    assert energy_rules.judge_negative_consumption([]).passed


def test_out_of_range_half_hours_and_stuck_registers_warn() -> None:
    over = FlaggedHalfHour("EML3", "A", datetime(2026, 10, 25, tzinfo=UTC), Decimal("14.2"), [])
    verdict = energy_rules.judge_out_of_range([over])
    assert (verdict.passed, verdict.severity) == (False, "WARN")
    assert verdict.meters[0]["import_kwh"] == Decimal("14.2")
    stuck = energy_rules.judge_stuck([ZeroRegister("EML4", "B", 7, None)])
    assert (stuck.passed, stuck.severity) == (False, "WARN") and "7 days" in stuck.summary
    assert energy_rules.judge_out_of_range([]).passed and energy_rules.judge_stuck([]).passed
