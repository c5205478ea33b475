"""Registry file validation, without a database."""

from __future__ import annotations

import io
import uuid

import pytest

from dagster_project.paths import DEMO_REGISTRY_CSV
from dagster_project.registry import (
    DEFAULT_PORT,
    RegistryFileError,
    parse_bool,
    parse_registry_csv,
)
from tests.helpers import registry_csv, registry_row


def parse(text: str):
    return parse_registry_csv(io.StringIO(text))


def test_demo_registry_is_entirely_valid() -> None:
    with DEMO_REGISTRY_CSV.open(newline="") as registry_file:
        data_lines = sum(1 for _ in registry_file) - 1
    with DEMO_REGISTRY_CSV.open(newline="") as registry_file:
        result = parse_registry_csv(registry_file)
    assert result.rejects == []
    assert len(result.meters) == data_lines
    assert {meter.mode for meter in result.meters} == {"active", "passive"}


def test_valid_row_is_typed() -> None:
    result = parse(registry_csv([registry_row(0, port="8081", single_meter_app="TRUE")]))
    (meter,) = result.meters
    assert meter.id == uuid.UUID(int=1)
    assert meter.serial == "EML2200000000"
    assert str(meter.ip_address) == "127.0.5.1"
    assert meter.port == 8081
    assert meter.single_meter_app is True
    assert meter.daylight_savings_correction_enabled is True
    assert meter.row_number == 2  # the header is line 1


def test_port_defaults_when_empty_or_column_absent() -> None:
    columns = tuple(c for c in registry_row(0) if c != "port")
    result = parse(registry_csv([registry_row(0)], columns=columns))
    assert result.meters[0].port == DEFAULT_PORT
    assert parse(registry_csv([registry_row(0, port="")])).meters[0].port == DEFAULT_PORT


def test_direction_reversed_is_optional_and_false_by_default() -> None:
    columns = tuple(c for c in registry_row(0) if c != "direction_reversed")
    assert (
        parse(registry_csv([registry_row(0)], columns=columns)).meters[0].direction_reversed
        is False
    )
    rows = [registry_row(0, direction_reversed=""), registry_row(1, direction_reversed="true")]
    assert [m.direction_reversed for m in parse(registry_csv(rows)).meters] == [False, True]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("serial", "EML123", "EML' followed by 10 digits"),
        ("serial", "XYZ2137580826", "EML' followed by 10 digits"),
        ("serial", "EML21375808260", "EML' followed by 10 digits"),
        ("ip_address", "10.0.0.256", "not an IPv4 or IPv6 address"),
        ("ip_address", "meter.local", "not an IPv4 or IPv6 address"),
        ("mode", "Active-ish", "mode must be one of active, passive"),
        ("esco", "acme", "not a UUID"),
        ("id", "12345", "not a UUID"),
        ("single_meter_app", "maybe", "not a boolean"),
        ("daylight_savings_correction_enabled", "2", "not a boolean"),
        ("prepay_enabled", "yes please", "not a boolean"),
        ("port", "80a", "whole number"),
        ("port", "70000", "between 1 and 65535"),
        ("direction_reversed", "reversed", "not a boolean"),
        ("name", "", "required value is empty"),
    ],
)
def test_bad_field_is_rejected_and_other_rows_still_load(
    field: str, value: str, reason: str
) -> None:
    rows = [registry_row(0), registry_row(1, **{field: value}), registry_row(2)]
    result = parse(registry_csv(rows))

    assert [meter.row_number for meter in result.meters] == [2, 4]
    (reject,) = result.rejects
    assert reject.row_number == 3
    assert reject.field == field
    assert reject.value == (value or None)
    assert reason in reject.reason
    expected_serial = rows[1]["serial"] if field != "serial" else value
    assert reject.serial == expected_serial


def test_every_bad_field_of_a_row_is_reported() -> None:
    result = parse(registry_csv([registry_row(0, serial="EML1", mode="x", esco="y")]))
    assert result.meters == []
    assert [reject.field for reject in result.rejects] == ["serial", "mode", "esco"]
    assert result.rejected_rows == 1


def test_duplicate_serials_reject_every_copy() -> None:
    duplicate = "EML2137580826"
    rows = [
        registry_row(0, serial=duplicate),
        registry_row(1),
        registry_row(2, serial=duplicate),
    ]
    result = parse(registry_csv(rows))
    assert [meter.serial for meter in result.meters] == [rows[1]["serial"]]
    assert [(r.row_number, r.field, r.value) for r in result.rejects] == [
        (2, "serial", duplicate),
        (4, "serial", duplicate),
    ]
    assert "also on row(s) 4" in result.rejects[0].reason
    assert "also on row(s) 2" in result.rejects[1].reason


def test_duplicate_serial_on_an_otherwise_bad_row_still_counts() -> None:
    duplicate = "EML2137580826"
    rows = [registry_row(0, serial=duplicate), registry_row(1, serial=duplicate, mode="x")]
    result = parse(registry_csv(rows))
    assert result.meters == []
    assert {(r.row_number, r.field) for r in result.rejects} == {(2, "serial"), (3, "mode")}


def test_duplicate_ids_are_rejected() -> None:
    same_id = str(uuid.uuid4())
    result = parse(registry_csv([registry_row(0, id=same_id), registry_row(1, id=same_id)]))
    assert result.meters == []
    assert [(r.field, r.value) for r in result.rejects] == [("id", same_id), ("id", same_id)]


def test_row_with_extra_fields_is_rejected() -> None:
    text = registry_csv([registry_row(0)]) + registry_csv([registry_row(1)]).splitlines()[1]
    text += ",unexpected\n"
    result = parse(text)
    assert [meter.row_number for meter in result.meters] == [2]
    assert result.rejects[0].row_number == 3
    assert "more fields than the header" in result.rejects[0].reason


def test_missing_column_fails_the_whole_file_naming_it() -> None:
    columns = tuple(c for c in registry_row(0) if c != "esco")
    with pytest.raises(RegistryFileError, match=r"missing column.*esco"):
        parse(registry_csv([registry_row(0)], columns=columns))


def test_values_are_trimmed() -> None:
    result = parse(registry_csv([registry_row(0, serial=" EML2137580826 ", mode=" passive")]))
    assert result.meters[0].serial == "EML2137580826"
    assert result.meters[0].mode == "passive"


@pytest.mark.parametrize(
    ("text", "expected"), [("true", True), ("F", False), ("1", True), ("no", False)]
)
def test_parse_bool(text: str, expected: bool) -> None:
    assert parse_bool(text) is expected
