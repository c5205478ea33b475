"""The infrastructure around the meters, from CSV files an operator keeps beside the registry.

Pure Python, no database. Nine files, one per kind, read in an order where each names only kinds
read before it: ESCOs (code, name, region), sites of an ESCO, properties (plots) of a site,
feeders of an ESCO, service heads on a feeder (phase count, fuse rating, owner), which service
heads serve which properties and which meters, circuits (power, heat or solar) of a site, and
which meter registers a circuit takes from when (`circuit_registers`, a start and an optional end).

Each file is validated the way the registry is (csv_input): a row with a bad field, a reference
to something the files in force do not have, or a key another row shares is rejected with its
line, field, value and reason; the file's other rows still load. Entities get a stable UUID from
their kind and key, so a re-load keeps them; an ESCO may give its own (the registry names ESCOs
by UUID or by code).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

from dagster_project.domain.csv_input import (
    CsvFileError,
    FieldError,
    RowProblem,
    duplicated,
    parse_fields,
    parse_uuid,
    read_rows,
    read_text_file,
)
from dagster_project.domain.registry import parse_serial
from dagster_project.domain.tariff_requests import check_uk_local_time, uk_local_to_utc

#: The namespace of the UUIDs given to entities by kind and key.
ENTITY_NAMESPACE = uuid.UUID("6f1c1b0e-5a47-4d8e-9a53-3c1f0d2e7b21")
CODE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
CIRCUIT_TYPES = ("power", "heat", "solar")
OWNERS = ("customer_owned", "network_owned")
ELEMENTS = ("A", "B", "SINGLE")
MAX_FUSE_RATING_AMPS = 32767

Parser = Callable[[str], Any]
#: Accepted spellings of a kind's key (a code, or an ESCO's UUID) -> the key as stored.
KeyIndex = dict[tuple[str, ...], tuple[str, ...]]


class InfrastructureFileError(CsvFileError):
    """An infrastructure file cannot be read as a whole; the one in force stays."""


def parse_code(value: str) -> str:
    lowered = value.lower()
    if not CODE.fullmatch(lowered):
        raise FieldError(
            "a code is letters, digits, '-', '_' or '.' (up to 64, starting with a letter or "
            "digit), e.g. wlce"
        )
    return lowered


def parse_optional_uuid(value: str) -> uuid.UUID | None:
    return None if value == "" else parse_uuid(value)


def parse_text(value: str) -> str:
    return value


def parse_optional_text(value: str) -> str | None:
    return value or None


def _whole_number(value: str, low: int, high: int, what: str) -> int:
    # int() reads any script's digits: only ASCII digits are a number here.
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise FieldError(f"{what} must be a whole number from {low} to {high}")
    return int(value)


def parse_phase(value: str) -> int:
    return _whole_number(value, 1, 3, "phase (the phases the service head carries)")


def parse_fuse_rating(value: str) -> int:
    return _whole_number(value, 1, MAX_FUSE_RATING_AMPS, "fuse_rating (amps)")


def parse_rating_kw(value: str) -> Decimal | None:
    if value == "":
        return None
    # Decimal() reads any script's digits (Arabic-Indic 150 is 150): only ASCII is a number.
    if not value.isascii():
        raise FieldError("rating_kw must be a number of kW in ASCII digits, e.g. 150")
    try:
        rating = Decimal(value)
    except InvalidOperation:
        raise FieldError("rating_kw must be a number of kW, e.g. 150") from None
    if not rating.is_finite() or rating <= 0:
        raise FieldError("rating_kw must be a positive number of kW")
    return rating


def _one_of(value: str, allowed: tuple[str, ...], what: str, upper: bool = False) -> str:
    normal = value.upper() if upper else value.lower()
    if normal not in allowed:
        raise FieldError(f"{what} must be one of {', '.join(allowed)}")
    return normal


def parse_owner(value: str) -> str:
    return _one_of(value, OWNERS, "type")


def parse_circuit_type(value: str) -> str:
    return _one_of(value, CIRCUIT_TYPES, "type")


def parse_element(value: str) -> str:
    return _one_of(value, ELEMENTS, "element", upper=True)


def parse_link_time(value: str) -> datetime:
    """An instant on the half-hour grid, as UTC. With a UTC offset it is that instant; without,
    it is UK wall-clock time, which must exist and be unambiguous on clock-change nights."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise FieldError(
            "not a date and time: give e.g. 2026-03-01T14:00 (UK time) or 2026-03-01T14:00Z"
        ) from None
    if moment.tzinfo is None:
        try:
            check_uk_local_time(moment)
        except ValueError as error:
            raise FieldError(str(error)) from None
        moment = uk_local_to_utc(moment)
    moment = moment.astimezone(UTC)
    if moment.minute % 30 or moment.second or moment.microsecond:
        raise FieldError("must be on the half-hour (:00 or :30): energy is counted per half-hour")
    return moment


def parse_optional_link_time(value: str) -> datetime | None:
    return None if value == "" else parse_link_time(value)


@dataclass(frozen=True)
class Kind:
    """One infrastructure file: its columns and how each is parsed (parser, empty allowed),
    the columns a header may leave out, its key, and the kinds its columns name."""

    name: str
    parsers: Mapping[str, tuple[Parser, bool]]
    key: tuple[str, ...]
    optional: tuple[str, ...] = ()
    #: Columns naming another kind's key -> that kind.
    references: Mapping[tuple[str, ...], str] = field(default_factory=dict)
    #: Whether its rows are entities with an id (links are not).
    entity: bool = True

    @property
    def file_name(self) -> str:
        return f"{self.name}.csv"

    @property
    def label(self) -> str:
        return f"infrastructure file {self.file_name}"

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(column for column in self.parsers if column not in self.optional)


ESCOS = Kind(
    "escos",
    {
        "id": (parse_optional_uuid, True),
        "code": (parse_code, False),
        "name": (parse_text, False),
        "region": (parse_optional_text, True),
    },
    key=("code",),
    optional=("id", "region"),
)
SITES = Kind(
    "sites",
    {"code": (parse_code, False), "name": (parse_text, False), "esco": (parse_text, False)},
    key=("code",),
    references={("esco",): "escos"},
)
PROPERTIES = Kind(
    "properties",
    {"plot": (parse_text, False), "site": (parse_code, False)},
    key=("site", "plot"),
    references={("site",): "sites"},
)
FEEDERS = Kind(
    "feeders",
    {
        "name": (parse_text, False),
        "esco": (parse_text, False),
        "rating_kw": (parse_rating_kw, True),
    },
    key=("name",),
    optional=("rating_kw",),
    references={("esco",): "escos"},
)
SERVICE_HEADS = Kind(
    "service_heads",
    {
        "name": (parse_text, False),
        "feeder": (parse_text, False),
        "phase": (parse_phase, False),
        "fuse_rating": (parse_fuse_rating, False),
        "type": (parse_owner, False),
    },
    key=("name",),
    references={("feeder",): "feeders"},
)
PROPERTY_SERVICE_HEADS = Kind(
    "property_service_heads",
    {"site": (parse_code, False), "plot": (parse_text, False), "service_head": (parse_text, False)},
    key=("site", "plot", "service_head"),
    references={("site", "plot"): "properties", ("service_head",): "service_heads"},
    entity=False,
)
SERVICE_HEAD_METERS = Kind(
    "service_head_meters",
    {"service_head": (parse_text, False), "serial": (parse_serial, False)},
    key=("serial",),
    references={("service_head",): "service_heads"},
    entity=False,
)
CIRCUITS = Kind(
    "circuits",
    {"name": (parse_text, False), "type": (parse_circuit_type, False), "site": (parse_code, False)},
    key=("name",),
    references={("site",): "sites"},
)
CIRCUIT_REGISTERS = Kind(
    "circuit_registers",
    {
        "circuit": (parse_text, False),
        "serial": (parse_serial, False),
        "element": (parse_element, False),
        "start_time": (parse_link_time, False),
        "end_time": (parse_optional_link_time, True),
        "notes": (parse_optional_text, True),
    },
    key=("circuit", "serial", "element", "start_time"),
    optional=("end_time", "notes"),
    references={("circuit",): "circuits"},
    entity=False,
)
#: How a message names one row of a kind that is referenced.
SINGULAR = {
    "escos": "ESCO",
    "sites": "site",
    "properties": "property",
    "feeders": "feeder",
    "service_heads": "service head",
    "circuits": "circuit",
}
#: In load order: each kind names only kinds before it.
KINDS = (ESCOS, SITES, PROPERTIES, FEEDERS, SERVICE_HEADS, PROPERTY_SERVICE_HEADS,
         SERVICE_HEAD_METERS, CIRCUITS, CIRCUIT_REGISTERS)  # fmt: skip


@dataclass(frozen=True)
class InfrastructureReject:
    """One problem with one field of one row of one file."""

    kind: str
    row_number: int
    field: str
    value: str | None
    reason: str


@dataclass(frozen=True)
class ParsedFile:
    kind: Kind
    #: The valid rows: each column's parsed value, `id` for entities, `source_row`.
    rows: list[dict[str, Any]]
    rejects: list[InfrastructureReject]

    @property
    def rejected_rows(self) -> int:
        return len({reject.row_number for reject in self.rejects})


def entity_id(kind: Kind, key: tuple[object, ...]) -> uuid.UUID:
    """The stable UUID of an entity: the same kind and key give the same id on every load."""
    return uuid.uuid5(ENTITY_NAMESPACE, "/".join((kind.name, *map(str, key))))


def key_index(kind: Kind, rows: Iterable[Mapping[str, Any]]) -> KeyIndex:
    """How other files may name this kind's rows: by key, and an ESCO also by its UUID."""
    index: KeyIndex = {}
    for row in rows:
        key = tuple(str(row[column]) for column in kind.key)
        index[key] = key
        if kind is ESCOS and row.get("id") is not None:
            index[(str(row["id"]),)] = key
    return index


def read_infrastructure_file(kind: Kind, path: Path, known: Mapping[str, KeyIndex]) -> ParsedFile:
    """Parse one infrastructure file from disk against the kinds in force (`known`); a file
    that cannot be read as a whole raises InfrastructureFileError naming it."""

    def parse(text: TextIO) -> ParsedFile:
        return parse_infrastructure_csv(kind, text, known)

    return read_text_file(path, kind.label, parse, InfrastructureFileError)


def parse_infrastructure_csv(
    kind: Kind, lines: Iterable[str], known: Mapping[str, KeyIndex]
) -> ParsedFile:
    """Validate one infrastructure CSV (header first; line numbers count it as line 1)."""
    csv_rows, problems = read_rows(
        lines, kind.label, kind.required, kind.optional, InfrastructureFileError
    )
    candidates: list[tuple[int, dict[str, Any]]] = []
    for row in csv_rows:
        parsed, row_problems = _parse_fields(kind, row.line, row.values)
        if not row_problems:
            row_problems = _reference_problems(kind, row.line, row.values, parsed, known)
        if row_problems:
            problems.extend(row_problems)
        else:
            candidates.append((row.line, parsed))
    twice = {(line, column): others for column, line, others in _duplicates(kind, candidates)}
    rows = []
    for line, parsed in candidates:
        shared = [(column, others) for (at, column), others in twice.items() if at == line]
        for column, others in shared:
            what = " and ".join(kind.key) if column == kind.key[-1] else column
            reason = f"duplicate {what}: also on row(s) {', '.join(map(str, others))}"
            problems.append(RowProblem(line, column, str(parsed[column]), reason))
        if shared:
            continue
        if kind.entity and parsed.get("id") is None:
            parsed["id"] = entity_id(kind, _key(kind, parsed))
        rows.append({**parsed, "source_row": line})
    rejects = [
        InfrastructureReject(kind.name, p.line, p.field, p.value, p.reason)
        for p in sorted(problems, key=lambda p: (p.line, _column_order(kind, p.field)))
    ]
    return ParsedFile(kind, rows, rejects)


def _parse_fields(
    kind: Kind, line: int, values: dict[str, str]
) -> tuple[dict[str, Any], list[RowProblem]]:
    parsed, problems = parse_fields(line, values, dict(kind.parsers))
    if not problems and parsed.get("end_time") and parsed["end_time"] <= parsed["start_time"]:
        reason = "end_time must be after start_time"
        problems.append(RowProblem(line, "end_time", values["end_time"], reason))
    return parsed, problems


def _reference_problems(
    kind: Kind,
    line: int,
    values: dict[str, str],
    parsed: dict[str, Any],
    known: Mapping[str, KeyIndex],
) -> list[RowProblem]:
    """Each reference resolved to the key it names (an ESCO's UUID becomes its code), or a
    problem saying the files in force have no such thing."""
    problems = []
    for columns, target in kind.references.items():
        wanted = tuple(str(parsed[column]).lower() if target == "escos" else str(parsed[column])
                       for column in columns)  # fmt: skip
        found = known.get(target, {}).get(wanted)
        if found is None:
            named = " ".join(f"{column} {values[column]!r}" for column in columns)
            reason = f"no {SINGULAR[target]} with {named} in {target}.csv"
            problems.append(RowProblem(line, columns[-1], values[columns[-1]], reason))
            continue
        parsed.update(zip(columns, found, strict=True))
    return problems


def _duplicates(
    kind: Kind, candidates: list[tuple[int, dict[str, Any]]]
) -> Iterator[tuple[str, int, list[int]]]:
    """(column, line, other lines) for each row whose key another row shares (reported on the
    key's last column), and each ESCO whose given id another ESCO has."""
    keys = duplicated((line, _key(kind, parsed)) for line, parsed in candidates)
    yield from ((kind.key[-1], line, others) for line, others in keys.items())
    if kind is ESCOS:
        ids = [(line, parsed["id"]) for line, parsed in candidates if parsed["id"] is not None]
        yield from (("id", line, others) for line, others in duplicated(ids).items())


def _key(kind: Kind, parsed: Mapping[str, Any]) -> tuple[object, ...]:
    return tuple(parsed[column] for column in kind.key)


def _column_order(kind: Kind, column: str) -> int:
    columns = list(kind.parsers)
    return columns.index(column) if column in columns else -1
