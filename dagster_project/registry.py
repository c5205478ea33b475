"""The meter registry file: parse and validate it into meters to load and rows to reject.

Pure Python, no database: each row is checked field by field, every problem is reported with the
row's line number, the field, the value received and a reason, and the valid rows still load.
"""

from __future__ import annotations

import csv
import ipaddress
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

SERIAL_PATTERN = re.compile(r"EML\d{10}")
MODES = ("active", "passive")
DEFAULT_PORT = 8080

# The Meter Domain page's meter_registry columns, plus what the poller needs.
REQUIRED_COLUMNS = (
    "id",
    "serial",
    "name",
    "ip_address",
    "hardware",
    "mode",
    "esco",
    "single_meter_app",
    "daylight_savings_correction_enabled",
    "prepay_enabled",
)
OPTIONAL_COLUMNS = ("port", "direction_reversed")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


class RegistryFileError(ValueError):
    """The file as a whole cannot be read as a registry (for example a missing column)."""


@dataclass(frozen=True)
class RegistryMeter:
    """One validated registry row."""

    id: uuid.UUID
    serial: str
    name: str
    ip_address: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int
    hardware: str | None
    mode: str
    esco: uuid.UUID
    single_meter_app: bool
    daylight_savings_correction_enabled: bool
    prepay_enabled: bool
    #: Import and export swapped on the meter's registers (solar meters measuring export).
    direction_reversed: bool
    row_number: int


@dataclass(frozen=True)
class RegistryReject:
    """One problem with one field of one row. A row with three bad fields gives three rejects."""

    row_number: int
    field: str
    value: str | None
    reason: str
    serial: str | None


@dataclass(frozen=True)
class RegistryParseResult:
    meters: list[RegistryMeter]
    rejects: list[RegistryReject]

    @property
    def rejected_rows(self) -> int:
        return len({reject.row_number for reject in self.rejects})


class FieldError(ValueError):
    """A field's value is not acceptable; the message is the reason shown to the operator."""


def parse_serial(value: str) -> str:
    if not SERIAL_PATTERN.fullmatch(value):
        raise FieldError("serial must be 'EML' followed by 10 digits")
    return value


def parse_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise FieldError("not a UUID") from None


def parse_ip_address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise FieldError("not an IPv4 or IPv6 address") from None


def parse_mode(value: str) -> str:
    if value not in MODES:
        raise FieldError(f"mode must be one of {', '.join(MODES)}")
    return value


def parse_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise FieldError("not a boolean (true/false)")


def parse_port(value: str) -> int:
    if value == "":
        return DEFAULT_PORT
    try:
        port = int(value)
    except ValueError:
        raise FieldError("port must be a whole number") from None
    if not 1 <= port <= 65535:
        raise FieldError("port must be between 1 and 65535")
    return port


def parse_optional_bool(value: str) -> bool:
    return False if value == "" else parse_bool(value)


def parse_name(value: str) -> str:
    return value


def parse_hardware(value: str) -> str | None:
    return value or None


# How each column is parsed, and whether an empty value is allowed.
_FIELD_PARSERS: dict[str, tuple[Callable[[str], Any], bool]] = {
    "id": (parse_uuid, False),
    "serial": (parse_serial, False),
    "name": (parse_name, False),
    "ip_address": (parse_ip_address, False),
    "hardware": (parse_hardware, True),
    "mode": (parse_mode, False),
    "esco": (parse_uuid, False),
    "single_meter_app": (parse_bool, False),
    "daylight_savings_correction_enabled": (parse_bool, False),
    "prepay_enabled": (parse_bool, False),
    "port": (parse_port, True),
    "direction_reversed": (parse_optional_bool, True),
}


def parse_registry_csv(lines: Iterable[str]) -> RegistryParseResult:
    """Validate a registry CSV (header row first). Line numbers count the header as line 1."""
    reader = csv.DictReader(lines, restkey="__extra__")
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise RegistryFileError(
            f"registry file is missing column(s) {', '.join(missing)}; header is {header}"
        )
    reader.fieldnames = header

    candidates: list[tuple[int, dict[str, Any]]] = []
    rejects: list[RegistryReject] = []
    for record in reader:
        row_number = reader.line_num
        raw = {key: (value or "").strip() for key, value in record.items() if key in COLUMNS}
        serial_seen = raw.get("serial") or None
        if record.get("__extra__"):
            rejects.append(
                RegistryReject(
                    row_number=row_number,
                    field="*",
                    value=",".join(record["__extra__"]),
                    reason=f"row has more fields than the header's {len(header)}",
                    serial=serial_seen,
                )
            )
            continue
        parsed, row_rejects = _parse_row(row_number, raw, serial_seen)
        rejects.extend(row_rejects)
        if not row_rejects:
            candidates.append((row_number, parsed))

    duplicate_rejects = _duplicate_rejects(candidates, rejects, key="serial")
    duplicate_rejects += _duplicate_rejects(candidates, rejects, key="id")
    rejects.extend(duplicate_rejects)
    rejected_rows = {reject.row_number for reject in duplicate_rejects}
    meters = [
        RegistryMeter(row_number=row_number, **parsed)
        for row_number, parsed in candidates
        if row_number not in rejected_rows
    ]
    rejects.sort(key=_reject_order)
    return RegistryParseResult(meters=meters, rejects=rejects)


def _reject_order(reject: RegistryReject) -> tuple[int, int]:
    return reject.row_number, COLUMNS.index(reject.field) if reject.field in COLUMNS else -1


def _parse_row(
    row_number: int, raw: dict[str, str], serial: str | None
) -> tuple[dict[str, Any], list[RegistryReject]]:
    parsed: dict[str, Any] = {}
    rejects: list[RegistryReject] = []
    for column, (parse, empty_allowed) in _FIELD_PARSERS.items():
        value = raw.get(column, "")
        if value == "" and not empty_allowed:
            rejects.append(
                RegistryReject(row_number, column, None, "required value is empty", serial)
            )
            continue
        try:
            parsed[column] = parse(value)
        except FieldError as error:
            rejects.append(RegistryReject(row_number, column, value, str(error), serial))
    return parsed, rejects


def _duplicate_rejects(
    candidates: list[tuple[int, dict[str, Any]]],
    earlier_rejects: list[RegistryReject],
    key: str,
) -> list[RegistryReject]:
    """Reject every row whose serial (or id) is shared with another row of the file.

    Which copy is right cannot be known, and polling the wrong address is worse than
    polling none, so none of them loads until the file is fixed.
    """
    rows_by_value: dict[str, list[int]] = defaultdict(list)
    for row_number, parsed in candidates:
        rows_by_value[str(parsed[key])].append(row_number)
    # Rows already rejected for other reasons still claim their value.
    for reject in earlier_rejects:
        if key == "serial" and reject.serial:
            rows_by_value[reject.serial].append(reject.row_number)

    serial_of_valid_row = {row_number: parsed["serial"] for row_number, parsed in candidates}
    rejects = []
    for value, rows in rows_by_value.items():
        distinct_rows = sorted(set(rows))
        if len(distinct_rows) < 2:
            continue
        for row_number in distinct_rows:
            if row_number not in serial_of_valid_row:
                continue
            others = ", ".join(str(other) for other in distinct_rows if other != row_number)
            reason = f"duplicate {key}: also on row(s) {others}"
            rejects.append(
                RegistryReject(row_number, key, value, reason, serial_of_valid_row[row_number])
            )
    return rejects
