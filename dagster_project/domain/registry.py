"""The meter registry file: parse and validate it into meters to load and rows to reject.

Pure Python, no database: each row is checked field by field, every problem is reported with the
row's line number, the field, the value received and a reason, and the valid rows still load.
Files are shaped like real registry exports: flags the sync fills in from the meter are often
empty, fleets mix single-phase and three-phase meters, and rows carry an installation status.
Reading is bounded in memory: an over-long line is rejected without being held whole.
"""

from __future__ import annotations

import csv
import ipaddress
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from dagster_project.domain.csv_input import (
    CsvFileError,
    FieldError,
    RowProblem,
    bounded_lines,
    parse_bool,
    parse_fields,
    parse_uuid,
    printable,
    read_header,
    read_text_file,
    row_shape_problems,
)

# Single-phase meters: EML and 10 digits. Three-phase meters (P1.ax whole-current, P1.cx
# CT-operated): EMP1AX / EMP1CX and their digits. ASCII digits only: `\d` would also take
# Arabic-Indic or fullwidth digits, which would let one meter be registered twice.
SINGLE_PHASE_SERIAL = re.compile(r"EML[0-9]{10}")
THREE_PHASE_SERIAL = re.compile(r"EMP1[AC]X[0-9]{4,12}")
SERIAL_PATTERN = re.compile(f"{SINGLE_PHASE_SERIAL.pattern}|{THREE_PHASE_SERIAL.pattern}")
SERIAL_FORMS = "'EML' and 10 digits, or 'EMP1AX' / 'EMP1CX' and digits (three-phase)"
THREE_PHASE_MODELS = frozenset({"P1.ax", "P1.cx"})
MODES = ("active", "passive")
ENABLED = "enabled"
DISABLED = "disabled"
#: Taken out of service for good: never polled, left out of the views, its pending writes
#: cancelled.
DELETED = "deleted"
INSTALLATION_STATUSES = (ENABLED, DISABLED, DELETED)
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
OPTIONAL_COLUMNS = ("port", "direction_reversed", "installation_status")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

#: How the registry file is named in messages.
LABEL = "registry file"


class RegistryFileError(CsvFileError):
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
    #: The flags are None when the file leaves them empty: unknown until the sync reads them.
    single_meter_app: bool | None
    daylight_savings_correction_enabled: bool | None
    prepay_enabled: bool | None
    #: Import and export swapped on the meter's registers (solar meters measuring export).
    direction_reversed: bool
    #: enabled (in service), disabled (kept, not polled) or deleted (gone from every view).
    installation_status: str
    row_number: int

    @property
    def three_phase(self) -> bool:
        return is_three_phase(self.serial, self.hardware)

    @property
    def not_polled_reason(self) -> str | None:
        return not_polled_reason(self.mode, self.installation_status, self.serial, self.hardware)


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


def is_three_phase(serial: str, hardware: str | None) -> bool:
    """Three-phase meters are told by their model, or by their serial when the model is empty."""
    return hardware in THREE_PHASE_MODELS or bool(THREE_PHASE_SERIAL.fullmatch(serial))


#: Why a meter is not contacted, as the sync records it and the marts show it.
NOT_POLLED_PASSIVE = "passive: a digital twin, never contacted"
NOT_POLLED_DISABLED = "disabled in the registry"
NOT_POLLED_DELETED = "deleted from the registry"
#: Three-phase meters serve other objects; until the client reads them they are not contacted,
#: and not counted as failed (they would look like an outage).
UNSUPPORTED_HARDWARE = "unsupported hardware: three-phase meters are not read yet"


def not_polled_reason(
    mode: str, installation_status: str, serial: str, hardware: str | None
) -> str | None:
    """Why the sync does not contact a meter, or None when it does: only active, enabled,
    single-phase meters are polled."""
    if installation_status == DELETED:
        return NOT_POLLED_DELETED
    if mode != "active":
        return NOT_POLLED_PASSIVE
    if installation_status == DISABLED:
        return NOT_POLLED_DISABLED
    if is_three_phase(serial, hardware):
        return UNSUPPORTED_HARDWARE
    return None


def departure_reason(serial: str, registered: bool, installation_status: str | None) -> str | None:
    """Why a meter can no longer take a write (a tariff change, a top-up token): it left the
    registry, or is deleted there. A disabled meter (or one without a status, which counts as
    enabled) keeps its pending writes: it may come back."""
    if not registered:
        return f"meter {serial} left the registry"
    if installation_status == DELETED:
        return f"meter {serial} is deleted (installation_status {DELETED!r} in the registry)"
    return None


def parse_serial(value: str) -> str:
    if not SERIAL_PATTERN.fullmatch(value):
        raise FieldError(f"serial must be {SERIAL_FORMS}, in ASCII")
    return value


def parse_ip_address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise FieldError("not an IPv4 or IPv6 address") from None


def parse_mode(value: str) -> str:
    lowered = value.lower()
    if lowered not in MODES:
        raise FieldError(f"mode must be one of {', '.join(MODES)}")
    return lowered


def parse_port(value: str) -> int:
    if value == "":
        return DEFAULT_PORT
    # int() reads any script's digits ("٨٠٨٠" is 8080): only ASCII digits are a port here.
    if not (value.isascii() and value.isdigit()):
        raise FieldError("port must be a whole number in ASCII digits")
    port = int(value)
    if not 1 <= port <= 65535:
        raise FieldError("port must be between 1 and 65535")
    return port


def parse_optional_bool(value: str) -> bool:
    return False if value == "" else parse_bool(value)


def parse_flag(value: str) -> bool | None:
    """A flag the meter itself holds: empty is unknown (the sync reads it from the meter)."""
    return None if value == "" else parse_bool(value)


def parse_installation_status(value: str) -> str:
    if value == "":
        return ENABLED
    lowered = value.lower()
    if lowered not in INSTALLATION_STATUSES:
        raise FieldError(f"installation_status must be one of {', '.join(INSTALLATION_STATUSES)}")
    return lowered


def parse_name(value: str) -> str:
    return value


def parse_hardware(value: str) -> str | None:
    return value or None


def esco_parser(esco_ids: Mapping[str, uuid.UUID]) -> Callable[[str], uuid.UUID]:
    """The registry's `esco`: an ESCO's UUID, or the code of an ESCO in force (`esco_ids`, by
    lower-case code) resolved to its UUID."""

    def parse_esco(value: str) -> uuid.UUID:
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
        esco_id = esco_ids.get(value.lower())
        if esco_id is None:
            raise FieldError("not a UUID, nor the code of an ESCO in escos.csv")
        return esco_id

    return parse_esco


# How each column is parsed, and whether an empty value is allowed.
_FIELD_PARSERS: dict[str, tuple[Callable[[str], Any], bool]] = {
    "id": (parse_uuid, False),
    "serial": (parse_serial, False),
    "name": (parse_name, False),
    "ip_address": (parse_ip_address, False),
    "hardware": (parse_hardware, True),
    "mode": (parse_mode, False),
    "esco": (esco_parser({}), False),
    "single_meter_app": (parse_flag, True),
    "daylight_savings_correction_enabled": (parse_flag, True),
    "prepay_enabled": (parse_flag, True),
    "port": (parse_port, True),
    "direction_reversed": (parse_optional_bool, True),
    "installation_status": (parse_installation_status, True),
}


def read_registry_file(
    path: Path, esco_ids: Mapping[str, uuid.UUID] | None = None
) -> RegistryParseResult:
    """Parse a registry file from disk, its ESCO codes resolved by `esco_ids`; a file that
    cannot be read at all is a RegistryFileError naming it (and, for bad text, the byte where
    it goes wrong)."""

    def parse(text: TextIO) -> RegistryParseResult:
        return parse_registry_csv(text, esco_ids)

    return read_text_file(path, LABEL, parse, RegistryFileError)


def parse_registry_csv(
    lines: Iterable[str], esco_ids: Mapping[str, uuid.UUID] | None = None
) -> RegistryParseResult:
    """Validate a registry CSV (header row first). Line numbers count the header as line 1.

    `lines` may be an open text file: it is then read a bounded line at a time, and a line
    over MAX_LINE_CHARS is rejected without being held whole."""
    parsers = {**_FIELD_PARSERS, "esco": (esco_parser(esco_ids or {}), False)}
    overlong: list[RowProblem] = []
    source = bounded_lines(lines, overlong) if hasattr(lines, "readline") else iter(lines)
    reader = csv.reader(source)
    header = read_header(reader, LABEL, REQUIRED_COLUMNS, RegistryFileError)
    rejects: list[RegistryReject] = []
    candidates: list[tuple[int, dict[str, Any]]] = []
    for record in reader:
        row_number = reader.line_num
        if not record or record == [""]:
            continue  # a blank line, or one the bounded reader blanked out
        raw = {
            column: value.strip()
            for column, value in zip(header, record, strict=False)
            if column in COLUMNS
        }
        serial_seen = printable(raw.get("serial")) or None
        problems = row_shape_problems(row_number, header, record, COLUMNS)
        if not problems:
            parsed, problems = parse_fields(row_number, raw, parsers)
            if not problems:
                candidates.append((row_number, parsed))
        rejects.extend(_reject(problem, serial_seen) for problem in problems)
    rejects.extend(_reject(problem, None) for problem in overlong)

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


def _reject(problem: RowProblem, serial: str | None) -> RegistryReject:
    return RegistryReject(problem.line, problem.field, problem.value, problem.reason, serial)


def _reject_order(reject: RegistryReject) -> tuple[int, int]:
    return reject.row_number, COLUMNS.index(reject.field) if reject.field in COLUMNS else -1


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


#: The share of the active fleet a registry file may remove before it is refused.
DEFAULT_MAX_REMOVED_SHARE = 0.10


class RegistryRemovalRefused(RegistryFileError):
    """The file would take too much of the active fleet out of service at once."""


def check_removals(
    active_ids: Iterable[uuid.UUID], meters: Iterable[RegistryMeter], max_share: float
) -> int:
    """How many of the active fleet's meters this load would remove (absent from its valid
    rows); raise RegistryRemovalRefused when that is more than `max_share` of them.

    A meter marked deleted in the file is removed on purpose and is not counted; a row that
    was rejected is counted, which is what stops a file of bad rows from emptying the fleet."""
    active = set(active_ids)
    removed = len(active - {meter.id for meter in meters})
    if active and removed / len(active) > max_share:
        raise RegistryRemovalRefused(
            f"this registry file would remove {removed} of the {len(active)} active meters "
            f"({removed / len(active):.0%}), more than the {max_share:.0%} allowed, so the "
            "registry in force is kept. To load it on purpose, set "
            "FLOWS_REGISTRY_MAX_REMOVED_SHARE=1 (or the registry asset's max_removed_share) "
            "for this run"
        )
    return removed
