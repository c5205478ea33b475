"""Registry file validation, without a database."""

from __future__ import annotations

import io
import uuid

import pytest

from dagster_project.domain.csv_input import MAX_FIELD_CHARS, MAX_LINE_CHARS
from dagster_project.domain.registry import (
    DEFAULT_PORT,
    UNSUPPORTED_HARDWARE,
    RegistryFileError,
    RegistryRemovalRefused,
    check_removals,
    departure_reason,
    parse_bool,
    parse_registry_csv,
    read_registry_file,
)
from dagster_project.paths import DEMO_REGISTRY_CSV
from tests.support.registry import registry_csv, registry_row


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
        ("serial", "EML123", "'EML' and 10 digits"),
        ("serial", "XYZ2137580826", "'EML' and 10 digits"),
        ("serial", "EML21375808260", "'EML' and 10 digits"),
        # Digits of other scripts look like digits to \d and int(), not to a meter.
        ("serial", "EML\u0662\u0661\u0663\u0667\u0665\u0668\u0660\u0668\u0662\u0666", "in ASCII"),
        ("serial", "EML\uff12\uff11\uff13\uff17\uff15\uff18\uff10\uff18\uff12\uff16", "in ASCII"),
        ("serial", "EMP1BX12345678", "'EMP1AX' / 'EMP1CX'"),
        ("port", "\u0668\u0660\u0668\u0660", "ASCII digits"),
        ("port", "\uff18\uff10\uff18\uff11", "ASCII digits"),
        ("installation_status", "removed", "enabled, disabled, deleted"),
        ("ip_address", "10.0.0.256", "not an IPv4 or IPv6 address"),
        ("ip_address", "meter.local", "not an IPv4 or IPv6 address"),
        ("mode", "Active-ish", "mode must be one of active, passive"),
        ("esco", "acme", "not a UUID, nor the code of an ESCO in escos.csv"),
        ("id", "12345", "not a UUID"),
        ("single_meter_app", "maybe", "not a boolean"),
        ("mode", "", "required value is empty"),
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


def test_empty_flags_are_unknown_not_rejected() -> None:
    row = registry_row(
        0, prepay_enabled="", daylight_savings_correction_enabled="", single_meter_app=""
    )
    (meter,) = parse(registry_csv([row])).meters
    assert meter.prepay_enabled is None
    assert meter.daylight_savings_correction_enabled is None
    assert meter.single_meter_app is None


@pytest.mark.parametrize(
    ("serial", "hardware", "three_phase"),
    [
        ("EMP1AX00012345", "", True),
        ("EMP1CX00012345", "P1.cx", True),
        ("EML2137580826", "P1.ax", True),
        ("EML2137580826", "C1.w", False),
        ("EML2137580826", "", False),
    ],
)
def test_three_phase_meters_load_and_are_known_by_serial_or_model(
    serial: str, hardware: str, three_phase: bool
) -> None:
    (meter,) = parse(registry_csv([registry_row(0, serial=serial, hardware=hardware)])).meters
    assert meter.serial == serial
    assert meter.three_phase is three_phase


def test_installation_status_defaults_to_enabled_and_is_case_blind() -> None:
    rows = [
        registry_row(0, installation_status=""),
        registry_row(1, installation_status="Deleted"),
        registry_row(2, installation_status="disabled"),
    ]
    statuses = [meter.installation_status for meter in parse(registry_csv(rows)).meters]
    assert statuses == ["enabled", "deleted", "disabled"]
    columns = tuple(c for c in registry_row(0) if c != "installation_status")
    assert parse(registry_csv([registry_row(0)], columns=columns)).meters[
        0
    ].installation_status == ("enabled")


def test_a_column_named_twice_refuses_the_file_naming_it() -> None:
    text = registry_csv([registry_row(0)])
    header, row = text.splitlines()
    with pytest.raises(RegistryFileError, match=r"column\(s\) serial more than once"):
        parse(f"{header},serial\n{row},EML2999999999\n")


def test_header_only_and_empty_files() -> None:
    assert parse(registry_csv([])).meters == []
    with pytest.raises(RegistryFileError, match="empty"):
        parse("")


def test_nul_byte_rejects_its_row_with_line_number_and_serial() -> None:
    rows = [registry_row(0), registry_row(1, name="Flat\x002"), registry_row(2)]
    result = parse(registry_csv(rows))
    assert [meter.row_number for meter in result.meters] == [2, 4]
    (reject,) = result.rejects
    assert (reject.row_number, reject.field, reject.serial) == (3, "name", rows[1]["serial"])
    assert "NUL" in reject.reason
    assert "\x00" not in reject.value


def test_over_long_field_rejects_its_row() -> None:
    rows = [registry_row(0, name="x" * (MAX_FIELD_CHARS + 1)), registry_row(1)]
    result = parse(registry_csv(rows))
    assert [meter.row_number for meter in result.meters] == [3]
    (reject,) = result.rejects
    assert (reject.row_number, reject.field) == (2, "name")
    assert str(MAX_FIELD_CHARS) in reject.reason
    assert len(reject.value) < 100


def test_over_long_line_is_rejected_without_reading_it_whole() -> None:
    """A file read from disk is read a bounded line at a time: a line without an end is
    skipped in chunks and rejected with its line number, and the rows after it still load."""
    good = registry_csv([registry_row(0), registry_row(1)]).splitlines()
    text = "\n".join([good[0], good[1], "y" * (MAX_LINE_CHARS * 5), good[2]]) + "\n"

    class Counting(io.StringIO):
        longest = 0

        def readline(self, size: int = -1) -> str:
            line = super().readline(size)
            Counting.longest = max(Counting.longest, len(line))
            return line

    result = parse_registry_csv(Counting(text))
    assert Counting.longest <= MAX_LINE_CHARS + 1
    assert [meter.row_number for meter in result.meters] == [2, 4]
    (reject,) = result.rejects
    assert reject.row_number == 3
    assert str(MAX_LINE_CHARS) in reject.reason


def test_file_that_is_not_utf8_is_refused_naming_it(tmp_path) -> None:
    path = tmp_path / "registry.csv"
    path.write_bytes(registry_csv([registry_row(0, name="caf\u00e9")]).encode("latin-1"))
    with pytest.raises(RegistryFileError, match=r"not UTF-8.*0xe9"):
        read_registry_file(path)


def test_missing_file_is_refused_naming_it(tmp_path) -> None:
    with pytest.raises(RegistryFileError, match=r"registry\.csv does not exist"):
        read_registry_file(tmp_path / "registry.csv")


def test_removals_within_the_share_pass_and_beyond_it_are_refused() -> None:
    meters = parse(registry_csv([registry_row(n) for n in range(10)])).meters
    active = [meter.id for meter in meters]
    assert check_removals(active, meters, 0.1) == 0
    assert check_removals(active, meters[1:], 0.1) == 1  # exactly 10%: allowed
    with pytest.raises(RegistryRemovalRefused, match=r"remove 2 of the 10 active meters \(20%\)"):
        check_removals(active, meters[2:], 0.1)
    with pytest.raises(RegistryRemovalRefused, match="10 of the 10"):
        check_removals(active, [], 0.1)
    assert check_removals(active, [], 1.0) == 10
    assert check_removals([], [], 0.0) == 0  # a first load removes nothing


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({}, None),
        ({"mode": "passive"}, "passive: a digital twin, never contacted"),
        ({"installation_status": "disabled"}, "disabled in the registry"),
        ({"installation_status": "deleted", "mode": "passive"}, "deleted from the registry"),
        ({"hardware": "P1.ax"}, UNSUPPORTED_HARDWARE),
        ({"serial": "EMP1AX0001234567", "hardware": ""}, UNSUPPORTED_HARDWARE),
    ],
)
def test_not_polled_reason(overrides: dict[str, str], reason: str | None) -> None:
    (meter,) = parse(registry_csv([registry_row(0, **overrides)])).meters
    assert meter.not_polled_reason == reason


def test_a_meter_that_left_the_registry_or_is_deleted_gives_the_reason() -> None:
    assert departure_reason("EML2137580826", False, None) == "meter EML2137580826 left the registry"
    deleted = departure_reason("EML2137580826", True, "deleted")
    assert deleted is not None and deleted.startswith("meter EML2137580826 is deleted")
    # Enabled (no status counts as enabled) and disabled meters keep their pending writes.
    for status in (None, "enabled", "disabled"):
        assert departure_reason("EML2137580826", True, status) is None
