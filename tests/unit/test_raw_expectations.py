"""The raw-snapshot suites without a database: good syncs pass, each kind of bad row fails the
right expectation and is named by serial, and the plausibility suite only looks at values."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from dagster_project.domain.rules import raw_expectations as rx

NOW = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
TARIFF = {
    "standing_charge": 0.5868,
    "unit_rate_element_a": 0.2843,
    "unit_rate_element_b": 0.15,
    "prepayment_ecredit_availability": 10.0,
    "prepayment_debt_recovery_rate": 0.25,
    "prepayment_emergency_credit": 15,
}
FUTURE_TARIFF = {**TARIFF, "activation_datetime": "2027-06-01T00:00:00"}
STRUCTURE = {rule.name for rule in rx.STRUCTURE_RULES}
PLAUSIBILITY = {rule.name for rule in rx.PLAUSIBILITY_RULES}


def serial(number: int) -> str:
    return f"EML{2200000000 + number:010d}"


def snapshot(number: int, **overrides: Any) -> dict[str, Any]:
    """A well-formed ok row, as psycopg reads it (UUID, Decimal, dict for JSON)."""
    row = {
        "meter_id": uuid.UUID(int=number + 1),
        "serial": serial(number),
        "polled_at": NOW - timedelta(minutes=2),
        "finished_at": NOW - timedelta(minutes=1),
        "outcome": "ok",
        "error_class": None,
        "balance": Decimal("12.34000"),
        "csq": 17,
        "voltage": Decimal("241.3"),
        "tariffs_active": dict(TARIFF),
        "tariffs_future": dict(FUTURE_TARIFF),
    }
    row.update(overrides)
    return row


def failed(number: int, **overrides: Any) -> dict[str, Any]:
    """A meter that did not answer: nothing read."""
    values = dict.fromkeys(["balance", "csq", "voltage", "tariffs_active", "tariffs_future"])
    values.update(outcome="failed", error_class="MeterTimeoutError", finished_at=None)
    return snapshot(number, **{**values, **overrides})


def skipped(number: int) -> dict[str, Any]:
    return failed(number, outcome="skipped", error_class=None)


def sync_frame(*rows: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(rx.SNAPSHOT_COLUMNS))


def good_rows(count: int = 10) -> list[dict[str, Any]]:
    """A healthy sync: mostly ok, one failed read (with partial values), one passive meter."""
    rows = [snapshot(number) for number in range(count)]
    rows[1] = failed(1, balance=Decimal("3.20000"))
    rows[2] = skipped(2)
    rows[3] = snapshot(3, tariffs_future=None, csq=None, voltage=None)  # nothing scheduled
    return rows


def structure(frame: pd.DataFrame) -> rx.SuiteResult:
    return rx.validate(frame, rx.STRUCTURE_SUITE, NOW)


def plausibility(frame: pd.DataFrame) -> rx.SuiteResult:
    return rx.validate(frame, rx.PLAUSIBILITY_SUITE, NOW)


def failed_names(result: rx.SuiteResult) -> set[str]:
    return {failure.name for failure in result.failures}


def sampled_serials(result: rx.SuiteResult, name: str) -> list[str]:
    return sorted(bad.serial for bad in result.result(name).sample)


def test_a_good_sync_passes_both_suites() -> None:
    frame = sync_frame(*good_rows())
    checked, plausible = structure(frame), plausibility(frame)
    assert checked.passed and plausible.passed, (checked.summary(), plausible.summary())
    assert checked.rows == plausible.rows == 10
    assert {r.name for r in checked.results} == STRUCTURE
    assert {r.name for r in plausible.results} == PLAUSIBILITY
    assert all(r.unexpected_count == 0 and r.sample == () for r in checked.results)
    # One failed meter of nine polled is counted, and under the limit.
    assert plausible.result("failed_share").unexpected_count == 1
    assert "all 10 expectations passed on 10 rows" in checked.summary()


def test_an_empty_sync_passes() -> None:
    assert structure(sync_frame()).passed
    assert plausibility(sync_frame()).passed


def test_the_results_are_plain_objects_with_ge_expectation_types() -> None:
    result = structure(sync_frame(*good_rows()))
    kinds = {r.name: r.expectation_type for r in result.results}
    assert kinds["serial_format"] == "expect_column_values_to_match_regex"
    assert kinds["one_row_per_meter"] == "expect_column_values_to_be_unique"
    assert kinds["csq_in_range"] == "expect_column_values_to_be_between"


MISSING_KEY = {k: v for k, v in TARIFF.items() if k != "prepayment_emergency_credit"}
# (case, the row it breaks, the values set on that row, the expectation that must name it).
# One row each, so that one validation shows every break caught by its own expectation only.
BREAKS: list[tuple[str, int, dict[str, Any], str]] = [
    ("serial not EML + 10 digits", 10, {"serial": "XYZ1"}, "serial_format"),
    ("serial with 9 digits", 11, {"serial": "EML123456789"}, "serial_format"),
    ("csq over 31", 12, {"csq": 40}, "csq_in_range"),
    ("csq negative", 13, {"csq": -1}, "csq_in_range"),
    (
        "polled an hour ahead",
        14,
        {"polled_at": NOW + timedelta(hours=1)},
        "polled_at_not_in_future",
    ),
    (
        "finished an hour ahead",
        15,
        {"finished_at": NOW + timedelta(hours=1)},
        "finished_at_not_in_future",
    ),
    ("active tariff missing a key", 16, {"tariffs_active": MISSING_KEY}, "tariffs_active_shape"),
    (
        "active tariff with a string value",
        17,
        {"tariffs_active": {**TARIFF, "standing_charge": "0.58"}},
        "tariffs_active_shape",
    ),
    (
        "active tariff with a boolean value",
        18,
        {"tariffs_active": {**TARIFF, "unit_rate_element_b": True}},
        "tariffs_active_shape",
    ),
    ("active tariff not an object", 19, {"tariffs_active": [0.58]}, "tariffs_active_shape"),
    (
        "future tariff without activation",
        20,
        {"tariffs_future": dict(TARIFF)},
        "tariffs_future_shape",
    ),
    (
        "future activation not ISO",
        21,
        {"tariffs_future": {**FUTURE_TARIFF, "activation_datetime": "next June"}},
        "tariffs_future_shape",
    ),
    (
        "future tariff with a null amount",
        22,
        {"tariffs_future": {**FUTURE_TARIFF, "prepayment_debt_recovery_rate": None}},
        "tariffs_future_shape",
    ),
    ("unknown outcome", 23, {"outcome": "timeout"}, "outcome_known"),
    ("ok row without a balance", 24, {"balance": None}, "ok_row_has_balance"),
]
METER_TWICE, SERIAL_TWICE = 25, 26


def broken_rows() -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """A sync with every break of BREAKS plus two duplicates, and the serials each must name."""
    rows = good_rows(27)
    named: dict[str, list[str]] = {}
    for _, index, values, expectation in BREAKS:
        rows[index].update(values)
        named.setdefault(expectation, []).append(rows[index]["serial"])
    # The same meter twice (its copy under another serial), and one serial under two ids.
    rows.append({**rows[METER_TWICE], "serial": serial(99)})
    named["one_row_per_meter"] = [serial(METER_TWICE), serial(99)]
    rows.append({**rows[SERIAL_TWICE], "meter_id": uuid.uuid4()})
    named["one_row_per_serial"] = [serial(SERIAL_TWICE)] * 2
    return rows, {name: sorted(serials) for name, serials in named.items()}


def test_every_structural_break_is_named_by_its_own_expectation() -> None:
    rows, expected = broken_rows()
    result = structure(sync_frame(*rows))
    assert set(expected) == STRUCTURE  # every structural expectation is exercised
    assert {name: sampled_serials(result, name) for name in failed_names(result)} == expected
    for name, serials in expected.items():
        assert result.result(name).unexpected_count == len(serials), name


def test_structural_breaks_are_no_plausibility_matter() -> None:
    rows, _ = broken_rows()
    assert plausibility(sync_frame(*rows)).passed


def test_the_sample_shows_the_column_and_its_value() -> None:
    rows = good_rows()
    rows[6]["polled_at"] = NOW + timedelta(hours=1)
    rows[7]["tariffs_active"] = MISSING_KEY
    result = structure(sync_frame(*rows))
    (late,) = result.result("polled_at_not_in_future").sample
    assert late == rx.BadValue(serial(6), "polled_at", "2026-10-25T02:30:00+00:00")
    (tariff,) = result.result("tariffs_active_shape").sample
    assert tariff.column == "tariffs_active" and "prepayment_emergency_credit" not in tariff.value
    assert '"standing_charge": 0.5868' in tariff.value


def test_clock_skew_within_the_tolerance_is_not_the_future() -> None:
    rows = good_rows()
    rows[6]["polled_at"] = NOW + rx.CLOCK_SKEW_TOLERANCE - timedelta(seconds=1)
    rows[6]["finished_at"] = NOW + rx.CLOCK_SKEW_TOLERANCE
    assert structure(sync_frame(*rows)).passed
    rows[6]["finished_at"] = NOW + rx.CLOCK_SKEW_TOLERANCE + timedelta(seconds=1)
    assert failed_names(structure(sync_frame(*rows))) == {"finished_at_not_in_future"}


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        rx.validate(sync_frame(*good_rows()), rx.STRUCTURE_SUITE, NOW.replace(tzinfo=None))


def test_several_breaks_are_each_reported() -> None:
    rows = good_rows()
    rows[4]["serial"] = "XYZ1"
    rows[5]["csq"] = 99
    rows[6]["outcome"] = "maybe"
    result = structure(sync_frame(*rows))
    assert failed_names(result) == {"serial_format", "csq_in_range", "outcome_known"}
    assert "3 of 10 expectations failed" in result.summary()
    assert sampled_serials(result, "csq_in_range") == [serial(5)]
    assert sampled_serials(result, "outcome_known") == [serial(6)]


def test_the_sample_stops_at_twenty_and_the_count_does_not() -> None:
    rows = [snapshot(number, csq=32) for number in range(30)]
    failure = structure(sync_frame(*rows)).result("csq_in_range")
    assert failure.unexpected_count == 30
    assert len(failure.sample) == rx.SAMPLE_SIZE == 20
    assert {bad.value for bad in failure.sample} == {"32"}


def test_too_many_failed_meters_warns_naming_them_with_their_error() -> None:
    rows = [snapshot(number) for number in range(10)]
    for number in (0, 1, 2):
        rows[number] = failed(number)
    rows.append(skipped(10))
    result = plausibility(sync_frame(*rows))
    assert failed_names(result) == {"failed_share"}
    failure = result.result("failed_share")
    assert failure.unexpected_count == 3
    assert {(b.serial, b.column, b.value) for b in failure.sample} == {
        (serial(n), "error_class", "MeterTimeoutError") for n in (0, 1, 2)
    }
    assert structure(sync_frame(*rows)).passed


def test_the_failed_share_counts_polled_meters_only() -> None:
    # 2 of 10 polled meters failed (20%): at the limit; the passive meters do not dilute it.
    rows = [snapshot(n) for n in range(8)] + [failed(8), failed(9)]
    assert plausibility(sync_frame(*rows)).passed
    rows[7] = failed(7)
    rows += [skipped(n) for n in range(10, 40)]
    assert failed_names(plausibility(sync_frame(*rows))) == {"failed_share"}


@pytest.mark.parametrize(
    ("column", "value", "expectation"),
    [
        ("balance", Decimal("5000.01"), "balance_plausible"),
        ("balance", Decimal("-500.01"), "balance_plausible"),
        ("voltage", Decimal("179.9"), "voltage_plausible"),
        ("voltage", Decimal("281"), "voltage_plausible"),
    ],
)
def test_implausible_values_warn(column: str, value: Decimal, expectation: str) -> None:
    rows = good_rows()
    rows[4][column] = value
    result = plausibility(sync_frame(*rows))
    assert failed_names(result) == {expectation}
    assert result.result(expectation).sample == (rx.BadValue(serial(4), column, str(value)),)
    assert structure(sync_frame(*rows)).passed


def test_plausible_bounds_are_inclusive() -> None:
    rows = good_rows()
    rows[4].update(balance=Decimal("-500"), voltage=Decimal("180"))
    rows[5].update(balance=Decimal("5000"), voltage=Decimal("280"))
    assert plausibility(sync_frame(*rows)).passed


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (None, True),
        (float("nan"), True),
        (dict(TARIFF), True),
        ({**TARIFF, "extra": "kept"}, True),
        ({**TARIFF, "standing_charge": Decimal("0.5")}, True),
        ({**TARIFF, "standing_charge": float("inf")}, False),
        ({**TARIFF, "standing_charge": "0.5"}, False),
        ({}, False),
        ('{"standing_charge": 0.5}', False),
    ],
)
def test_active_tariff_shape(value: Any, valid: bool) -> None:
    assert rx.active_tariff_is_valid(value) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (None, True),
        (dict(FUTURE_TARIFF), True),
        ({**FUTURE_TARIFF, "activation_datetime": "2027-06-01T00:00:00+01:00"}, True),
        ({**FUTURE_TARIFF, "activation_datetime": 1780272000}, False),
        ({**FUTURE_TARIFF, "activation_datetime": "2027-13-01T00:00:00"}, False),
        (dict(TARIFF), False),
    ],
)
def test_future_tariff_shape(value: Any, valid: bool) -> None:
    assert rx.future_tariff_is_valid(value) is valid


def test_render_keeps_values_readable_and_short() -> None:
    assert rx.render(None) == rx.render(float("nan")) == rx.render(pd.NaT) == "NULL"
    assert rx.render(datetime(2026, 1, 2, 3, 4, tzinfo=UTC)) == "2026-01-02T03:04:00+00:00"
    assert rx.render({"b": 1, "a": "x"}) == '{"a": "x", "b": 1}'
    long = rx.render("x" * 1000)
    assert len(long) == rx.MAX_VALUE_CHARS and long.endswith("…")


def test_failures_markdown_names_expectation_count_and_rows() -> None:
    rows = [snapshot(number, serial=f"BAD{number}") for number in range(25)]
    result = structure(sync_frame(*rows))
    text = rx.failures_markdown(result)
    assert "**serial_format** (expect_column_values_to_match_regex)" in text
    assert "25 rows" in text and "... and 5 more" in text
    assert "| BAD0 | serial | BAD0 |" in text
    assert rx.failures_markdown(structure(sync_frame(*good_rows()))) == "Every expectation passed."


def test_a_frame_without_a_column_fails_loudly() -> None:
    with pytest.raises(KeyError):
        structure(sync_frame(*good_rows()).drop(columns=["tariffs_future"]))


def test_each_suite_reads_only_the_columns_it_needs() -> None:
    assert rx.columns_read(rx.PLAUSIBILITY_SUITE) == (
        "serial",
        "outcome",
        "error_class",
        "balance",
        "voltage",
    )
    assert set(rx.columns_read(rx.STRUCTURE_SUITE)) == set(rx.SNAPSHOT_COLUMNS) - {
        "error_class",
        "voltage",
    }
    rows = good_rows()
    rows[4]["voltage"] = Decimal("300")
    frame = sync_frame(*rows)
    for suite in (rx.STRUCTURE_SUITE, rx.PLAUSIBILITY_SUITE):
        alone = rx.validate(frame[list(rx.columns_read(suite))], suite, NOW)
        assert alone.results == rx.validate(frame, suite, NOW).results


def test_rows_read_with_text_ids_and_float_amounts_validate_alike() -> None:
    # The check has PostgreSQL cast meter_id to text and balance and voltage to float8.
    rows = good_rows()
    rows[4]["balance"] = Decimal("6000")
    frame = sync_frame(*rows)
    cast = frame.assign(
        meter_id=frame["meter_id"].map(str),
        balance=frame["balance"].astype(float),
        voltage=frame["voltage"].astype(float),
    )
    assert structure(cast).passed
    (bad,) = plausibility(cast).result("balance_plausible").sample
    assert bad == rx.BadValue(serial(4), "balance", "6000.0")
