"""Reading the CSV files operators maintain (the meter registry, the infrastructure files).

Pure Python, no database. What every such file shares: it is opened as UTF-8 (a byte-order mark
allowed), read a bounded line at a time so that a file without newlines cannot fill memory, its
header refused whole when a column is missing or named twice, and each row's shape checked (extra
fields, NUL bytes, over-long values) before its fields are parsed. A problem with one row is a
`RowProblem` naming the line, the field, the value and why; the file's other rows still load.
"""

from __future__ import annotations

import csv
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

#: Longest value of one field, and of one physical line, that is accepted. Real rows are a few
#: hundred characters; the limits keep a file without newlines from filling memory.
MAX_FIELD_CHARS = 1000
MAX_LINE_CHARS = 8192

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
# A file opened with newline="" ends its lines with any of these (kept as they are, for csv).
_LINE_ENDS = ("\n", "\r")

T = TypeVar("T")


class CsvFileError(ValueError):
    """The file as a whole cannot be read (missing, not UTF-8, a column missing or doubled)."""


class FieldError(ValueError):
    """A field's value is not acceptable; the message is the reason shown to the operator."""


@dataclass(frozen=True)
class RowProblem:
    """One problem with one field of one row ("*": the row as a whole)."""

    line: int
    field: str
    value: str | None
    reason: str


@dataclass(frozen=True)
class CsvRow:
    """A row whose shape is sound: its line number (the header is line 1) and its values,
    stripped, by column (columns the file lacks read as empty)."""

    line: int
    values: dict[str, str]


def read_text_file(
    path: Path, label: str, read: Callable[[TextIO], T], error: type[CsvFileError] = CsvFileError
) -> T:
    """`read` applied to the open file; a file that cannot be read at all raises `error` naming
    it as `label` (and, for bad text, the byte where it goes wrong)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as text:
            return read(text)
    except FileNotFoundError:
        raise error(f"{label} {path} does not exist") from None
    except UnicodeDecodeError as problem:
        bad = problem.object[problem.start]
        reason = f"is not UTF-8 text (byte {bad:#04x} cannot be decoded): save it as UTF-8"
        raise error(f"{label} {path} {reason}") from None
    except OSError as problem:
        raise error(f"{label} {path} cannot be read: {problem.strerror}") from None
    except csv.Error as problem:
        raise error(f"{label} {path} is not readable as CSV: {problem}") from None


def read_rows(
    lines: Iterable[str],
    label: str,
    required: Sequence[str],
    optional: Sequence[str] = (),
    error: type[CsvFileError] = CsvFileError,
) -> tuple[list[CsvRow], list[RowProblem]]:
    """The rows of a CSV (header first) whose shape is sound, and the problems of the others.

    `lines` may be an open text file: it is then read a bounded line at a time, and a line over
    MAX_LINE_CHARS is a problem without being held whole. Blank lines are skipped."""
    overlong: list[RowProblem] = []
    source = bounded_lines(lines, overlong) if hasattr(lines, "readline") else iter(lines)
    reader = csv.reader(source)
    header = read_header(reader, label, required, error)
    columns = (*required, *optional)
    rows: list[CsvRow] = []
    problems: list[RowProblem] = []
    for record in reader:
        if not record or record == [""]:
            continue  # a blank line, or one the bounded reader blanked out
        line = reader.line_num
        shape = row_shape_problems(line, header, record, columns)
        if shape:
            problems.extend(shape)
            continue
        values = {column: "" for column in columns}
        values.update(
            (column, value.strip())
            for column, value in zip(header, record, strict=False)
            if column in columns
        )
        rows.append(CsvRow(line, values))
    return rows, problems + overlong


def read_header(
    reader: Iterator[list[str]],
    label: str,
    required: Sequence[str],
    error: type[CsvFileError] = CsvFileError,
) -> list[str]:
    """The header row, refused whole when a column is missing or named twice: a file whose
    columns cannot be trusted must not replace the data in force."""
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise error(f"{label} is empty: no header row") from None
    twice = sorted(name for name, count in Counter(header).items() if count > 1 and name)
    if twice:
        raise error(
            f"{label} names column(s) {', '.join(twice)} more than once; "
            "which of them holds the values cannot be known"
        )
    missing = [column for column in required if column not in header]
    if missing:
        raise error(f"{label} is missing column(s) {', '.join(missing)}; header is {header}")
    return header


def row_shape_problems(
    line: int, header: list[str], record: list[str], columns: Sequence[str]
) -> list[RowProblem]:
    """Problems that make a row unreadable as a whole: extra fields, NUL bytes, huge values."""
    if len(record) > len(header):
        extra = ",".join(record[len(header) :])
        reason = f"row has more fields than the header's {len(header)}"
        return [RowProblem(line, "*", shown(extra), reason)]
    problems = []
    for column, value in zip(header, record, strict=False):
        field = column if column in columns else column or "*"
        if "\x00" in value:
            problems.append(RowProblem(line, field, shown(value), "value contains a NUL byte"))
        elif len(value) > MAX_FIELD_CHARS:
            reason = f"value is {len(value)} characters, over the limit of {MAX_FIELD_CHARS}"
            problems.append(RowProblem(line, field, shown(value), reason))
    return problems


def bounded_lines(stream: Any, overlong: list[RowProblem]) -> Iterator[str]:
    """The file's lines, none longer than MAX_LINE_CHARS: a longer one is read past in chunks,
    reported in `overlong` with its line number, and replaced by an empty line so that the
    line numbers of the rows after it stay right."""
    text: TextIO = stream
    number = 0
    while line := text.readline(MAX_LINE_CHARS + 1):
        number += 1
        if len(line) <= MAX_LINE_CHARS or line.endswith(_LINE_ENDS):
            yield line
            continue
        length = len(line)
        while (rest := text.readline(MAX_LINE_CHARS)) and not rest.endswith(_LINE_ENDS):
            length += len(rest)
        length += len(rest)
        reason = f"line is {length} characters or more, over the limit of {MAX_LINE_CHARS}"
        overlong.append(RowProblem(number, "*", shown(line), reason))
        yield "\n"


def parse_fields(
    line: int, values: dict[str, str], parsers: dict[str, tuple[Callable[[str], Any], bool]]
) -> tuple[dict[str, Any], list[RowProblem]]:
    """Each column's value through its parser; (parser, empty allowed) per column. A required
    value left empty, or one its parser refuses, is a problem naming the field."""
    parsed: dict[str, Any] = {}
    problems: list[RowProblem] = []
    for column, (parse, empty_allowed) in parsers.items():
        value = values.get(column, "")
        if value == "" and not empty_allowed:
            problems.append(RowProblem(line, column, None, "required value is empty"))
            continue
        try:
            parsed[column] = parse(value)
        except FieldError as problem:
            problems.append(RowProblem(line, column, value, str(problem)))
    return parsed, problems


def duplicated(keys: Iterable[tuple[int, object]]) -> dict[int, list[int]]:
    """For each line whose key another line shares, the other lines with that key."""
    lines_by_key: dict[object, list[int]] = defaultdict(list)
    for line, key in keys:
        lines_by_key[key].append(line)
    return {
        line: [other for other in lines if other != line]
        for lines in lines_by_key.values()
        if len(set(lines)) > 1
        for line in lines
    }


def shown(value: str, limit: int = 80) -> str:
    """A bad value as the operator sees it: printable, and cut short when long."""
    text = printable(value)
    return text if len(text) <= limit else text[:limit] + "..."


def printable(value: str | None) -> str:
    return (value or "").replace("\x00", "\\x00")


def parse_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise FieldError("not a UUID") from None


def parse_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise FieldError("not a boolean (true/false)")
