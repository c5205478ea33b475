"""Infrastructure file validation (ESCOs, sites, properties, feeders, service heads, circuits and
their links), without a database.

Files are read as the infrastructure asset reads them: in load order, each against the valid
rows of the files before it. Expected values are worked out from the inputs (a UK wall-clock
time through Europe/London, a duplicate's other line), not copied from the code's answers."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dagster_project.domain.infrastructure import (
    CIRCUIT_REGISTERS,
    ESCOS,
    FEEDERS,
    KINDS,
    SERVICE_HEADS,
    SITES,
    InfrastructureFileError,
    KeyIndex,
    Kind,
    ParsedFile,
    entity_id,
    key_index,
    parse_infrastructure_csv,
    read_infrastructure_file,
)

LONDON = ZoneInfo("Europe/London")
WLCE_ID = "6b1f3e0c-2d4a-4f0e-8b7a-1c2d3e4f5a60"
SINGLE_PHASE = "EML2137580826"
THREE_PHASE = "EMP1AX00012345"
KIND = {kind.name: kind for kind in KINDS}
ARABIC_INDIC_SERIAL = "EML\u0662\u0661\u0663\u0667\u0665\u0668\u0660\u0668\u0662\u0666"

#: A small, valid set of files: every kind, every optional column used and left empty.
GOOD: dict[str, list[dict[str, str]]] = {
    "escos": [
        {"id": WLCE_ID, "code": "wlce", "name": "Water Lilies Community Energy", "region": "SW"},
        {"id": "", "code": "hazelmead", "name": "Hazelmead Co-operative", "region": ""},
    ],
    "sites": [
        {"code": "wl-lane", "name": "Water Lilies Lane", "esco": "wlce"},
        {"code": "hm-barn", "name": "Hazelmead Barn", "esco": "hazelmead"},
    ],
    "properties": [
        {"plot": "1 Water Lilies Lane", "site": "wl-lane"},
        {"plot": "2 Water Lilies Lane", "site": "wl-lane"},
        {"plot": "The Barn", "site": "hm-barn"},
    ],
    "feeders": [
        {"name": "wl-feeder", "esco": "wlce", "rating_kw": "150"},
        {"name": "hm-feeder", "esco": "hazelmead", "rating_kw": ""},
    ],
    "service_heads": [
        {
            "name": "sh-1",
            "feeder": "wl-feeder",
            "phase": "1",
            "fuse_rating": "100",
            "type": "network_owned",
        },
        {
            "name": "sh-2",
            "feeder": "hm-feeder",
            "phase": "3",
            "fuse_rating": "80",
            "type": "customer_owned",
        },
    ],
    "property_service_heads": [
        {"site": "wl-lane", "plot": "1 Water Lilies Lane", "service_head": "sh-1"},
        {"site": "wl-lane", "plot": "2 Water Lilies Lane", "service_head": "sh-1"},
        {"site": "hm-barn", "plot": "The Barn", "service_head": "sh-2"},
    ],
    "service_head_meters": [
        {"service_head": "sh-1", "serial": SINGLE_PHASE},
        {"service_head": "sh-2", "serial": THREE_PHASE},
    ],
    "circuits": [
        {"name": "wl-power", "type": "power", "site": "wl-lane"},
        {"name": "wl-heat", "type": "heat", "site": "wl-lane"},
        {"name": "hm-power", "type": "power", "site": "hm-barn"},
    ],
    "circuit_registers": [
        {
            "circuit": "wl-power",
            "serial": SINGLE_PHASE,
            "element": "A",
            "start_time": "2024-01-01T00:00Z",
            "end_time": "",
            "notes": "",
        },
        {
            "circuit": "wl-power",
            "serial": SINGLE_PHASE,
            "element": "B",
            "start_time": "2024-01-01T00:00Z",
            "end_time": "2026-06-01T00:00Z",
            "notes": "",
        },
        {
            "circuit": "wl-heat",
            "serial": SINGLE_PHASE,
            "element": "B",
            "start_time": "2026-06-01T00:00Z",
            "end_time": "",
            "notes": "heat pump rewired",
        },
    ],
}


def csv_text(kind: Kind, rows: list[dict[str, str]], columns: list[str] | None = None) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=columns or list(kind.parsers), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def parse(kind: Kind, rows: list[dict[str, str]], known: Mapping[str, KeyIndex]) -> ParsedFile:
    return parse_infrastructure_csv(kind, io.StringIO(csv_text(kind, rows)), known)


def parse_all(
    files: Mapping[str, list[dict[str, str]]] = GOOD,
) -> tuple[dict[str, ParsedFile], dict[str, KeyIndex]]:
    """Every kind in load order against the valid rows before it, as the asset reads them."""
    known: dict[str, KeyIndex] = {}
    parsed = {}
    for kind in KINDS:
        parsed[kind.name] = parse(kind, files[kind.name], known)
        known[kind.name] = key_index(kind, parsed[kind.name].rows)
    return parsed, known


def known_before(kind: Kind) -> dict[str, KeyIndex]:
    """The kinds in force when `kind`'s file is read (the good files before it)."""
    _, known = parse_all()
    return {
        name: index for name, index in known.items() if KINDS.index(KIND[name]) < KINDS.index(kind)
    }


def with_row(kind_name: str, number: int, **changes: str) -> list[dict[str, str]]:
    """The good rows of a kind with row `number` (0-based) changed."""
    rows = [dict(row) for row in GOOD[kind_name]]
    rows[number].update(changes)
    return rows


def utc(local: str) -> datetime:
    """A UK wall-clock time as the UTC instant it is, worked out through the tz database."""
    return datetime.fromisoformat(local).replace(tzinfo=LONDON).astimezone(UTC)


# --- Good files ------------------------------------------------------------------------------


def test_every_kind_parses_a_good_file() -> None:
    parsed, _ = parse_all()
    for kind in KINDS:
        result = parsed[kind.name]
        assert result.rejects == [], kind.name
        assert [row["source_row"] for row in result.rows] == [
            line + 2 for line in range(len(GOOD[kind.name]))
        ]
        for row, given in zip(result.rows, GOOD[kind.name], strict=True):
            assert isinstance(row["id"], uuid.UUID) if kind.entity else "id" not in row
            for column in kind.key:
                if column != "start_time":  # an instant: compared below
                    assert str(row[column]) == given[column]
    heads = parsed["service_heads"].rows
    assert [(h["phase"], h["fuse_rating"], h["type"]) for h in heads] == [
        (1, 100, "network_owned"),
        (3, 80, "customer_owned"),
    ]
    assert [f["rating_kw"] for f in parsed["feeders"].rows] == [Decimal("150"), None]
    assert [e["region"] for e in parsed["escos"].rows] == ["SW", None]
    links = parsed["circuit_registers"].rows
    for link, given in zip(links, GOOD["circuit_registers"], strict=True):
        assert link["start_time"] == datetime.fromisoformat(given["start_time"])
        end = given["end_time"]
        assert link["end_time"] == (datetime.fromisoformat(end) if end else None)
        assert link["notes"] == (given["notes"] or None)


def test_optional_columns_may_be_left_out_of_the_header() -> None:
    escos = parse_infrastructure_csv(ESCOS, io.StringIO("code,name\nwlce,Water Lilies\n"), {})
    assert escos.rejects == []
    assert escos.rows[0]["region"] is None
    assert escos.rows[0]["id"] == entity_id(ESCOS, ("wlce",))
    text = "circuit,serial,element,start_time\nwl-power,EML2137580826,A,2024-01-01T00:00Z\n"
    links = parse_infrastructure_csv(
        CIRCUIT_REGISTERS, io.StringIO(text), known_before(CIRCUIT_REGISTERS)
    )
    assert links.rejects == []
    assert (links.rows[0]["end_time"], links.rows[0]["notes"]) == (None, None)


# --- Field refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind_name", "field", "value", "reason"),
    [
        ("escos", "code", "-wlce", "a code is letters, digits"),
        ("escos", "code", "wl ce", "a code is letters, digits"),
        ("escos", "code", "wlce!", "a code is letters, digits"),
        ("escos", "code", "w" * 65, "up to 64"),
        ("escos", "code", "\u00e9co", "a code is letters, digits"),
        ("escos", "id", "12345", "not a UUID"),
        ("escos", "name", "", "required value is empty"),
        ("sites", "code", "wl_lane/2", "a code is letters, digits"),
        ("service_heads", "phase", "0", "from 1 to 3"),
        ("service_heads", "phase", "4", "from 1 to 3"),
        ("service_heads", "phase", "1.0", "whole number"),
        ("service_heads", "phase", "three", "whole number"),
        ("service_heads", "phase", "\u0663", "whole number"),  # Arabic-Indic 3
        ("service_heads", "phase", "\uff13", "whole number"),  # fullwidth 3
        ("service_heads", "phase", "", "required value is empty"),
        ("service_heads", "fuse_rating", "0", "from 1 to 32767"),
        ("service_heads", "fuse_rating", "32768", "from 1 to 32767"),
        ("service_heads", "fuse_rating", "100A", "whole number"),
        ("service_heads", "fuse_rating", "-100", "whole number"),
        ("service_heads", "fuse_rating", "\uff11\uff10\uff10", "whole number"),
        ("service_heads", "type", "council_owned", "one of customer_owned, network_owned"),
        ("circuits", "type", "gas", "one of power, heat, solar"),
        ("circuit_registers", "element", "C", "one of A, B, SINGLE"),
        ("circuit_registers", "element", "AB", "one of A, B, SINGLE"),
        ("circuit_registers", "serial", "EML123", "serial must be"),
        ("circuit_registers", "serial", ARABIC_INDIC_SERIAL, "in ASCII"),
        ("service_head_meters", "serial", "XYZ2137580826", "serial must be"),
        ("circuit_registers", "start_time", "yesterday", "not a date and time"),
        ("circuit_registers", "end_time", "2026-13-01T00:00Z", "not a date and time"),
        ("feeders", "rating_kw", "0", "positive"),
        ("feeders", "rating_kw", "-5", "positive"),
        ("feeders", "rating_kw", "NaN", "positive"),
        ("feeders", "rating_kw", "Infinity", "positive"),
        ("feeders", "rating_kw", "150kW", "a number of kW"),
    ],
)  # fmt: skip
def test_bad_field_is_rejected_naming_line_field_and_value_and_other_rows_load(
    kind_name: str, field: str, value: str, reason: str
) -> None:
    kind = KIND[kind_name]
    rows = with_row(kind_name, 1, **{field: value})
    result = parse(kind, rows, known_before(kind))
    (reject,) = result.rejects
    assert (reject.kind, reject.row_number, reject.field) == (kind_name, 3, field)
    assert reject.value == (value or None)
    assert reason in reject.reason
    assert [row["source_row"] for row in result.rows] == [
        line + 2 for line in range(len(rows)) if line != 1
    ]
    assert result.rejected_rows == 1


@pytest.mark.parametrize("value", ["\u0661\u0665\u0660", "\uff11\uff15\uff10"])
def test_rating_kw_takes_ascii_digits_only(value: str) -> None:
    result = parse(FEEDERS, with_row("feeders", 0, rating_kw=value), known_before(FEEDERS))
    assert [(r.row_number, r.field) for r in result.rejects] == [(2, "rating_kw")]


def test_every_bad_field_of_a_row_is_reported_in_column_order() -> None:
    rows = with_row("service_heads", 0, type="council", phase="9", fuse_rating="x")
    result = parse(SERVICE_HEADS, rows, known_before(SERVICE_HEADS))
    assert [(r.row_number, r.field) for r in result.rejects] == [
        (2, "phase"),
        (2, "fuse_rating"),
        (2, "type"),
    ]
    assert result.rejected_rows == 1


# --- References ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind_name", "field", "value", "target"),
    [
        ("sites", "esco", "nosuch", "escos"),
        ("sites", "esco", str(uuid.UUID(int=5)), "escos"),
        ("properties", "site", "nosuch", "sites"),
        ("feeders", "esco", "nosuch", "escos"),
        ("service_heads", "feeder", "nosuch", "feeders"),
        ("property_service_heads", "plot", "99 Nowhere", "properties"),
        ("property_service_heads", "service_head", "nosuch", "service_heads"),
        ("service_head_meters", "service_head", "nosuch", "service_heads"),
        ("circuits", "site", "nosuch", "sites"),
        ("circuit_registers", "circuit", "nosuch", "circuits"),
    ],
)
def test_reference_to_something_unknown_is_rejected_and_other_rows_load(
    kind_name: str, field: str, value: str, target: str
) -> None:
    kind = KIND[kind_name]
    rows = with_row(kind_name, 1, **{field: value})
    result = parse(kind, rows, known_before(kind))
    (reject,) = result.rejects
    assert (reject.row_number, reject.field, reject.value) == (3, field, value)
    assert f"{target}.csv" in reject.reason and repr(value) in reject.reason
    assert reject.reason.startswith("no ")
    assert [row["source_row"] for row in result.rows] == [
        line + 2 for line in range(len(rows)) if line != 1
    ]


def test_rows_naming_a_rejected_row_are_rejected_in_turn() -> None:
    """A site rejected in sites.csv is unknown to the files after it."""
    files = dict(GOOD, sites=with_row("sites", 1, esco="nosuch"))
    parsed, _ = parse_all(files)
    rejected_site = GOOD["sites"][1]["code"]
    assert [r.row_number for r in parsed["sites"].rejects] == [3]
    assert {row["site"] for row in parsed["properties"].rows} == {"wl-lane"}
    (reject,) = parsed["properties"].rejects
    assert (reject.field, reject.value) == ("site", rejected_site)
    assert {row["site"] for row in parsed["circuits"].rows} == {"wl-lane"}


def test_an_esco_named_by_uuid_resolves_to_its_code() -> None:
    derived = entity_id(ESCOS, ("hazelmead",))
    sites = [
        {"code": "a", "name": "A", "esco": WLCE_ID.upper()},
        {"code": "b", "name": "B", "esco": str(derived)},
        {"code": "c", "name": "C", "esco": "WLCE"},
    ]
    known = known_before(SITES)
    result = parse(SITES, sites, known)
    assert result.rejects == []
    assert [row["esco"] for row in result.rows] == ["wlce", "hazelmead", "wlce"]
    feeders = [{"name": "f", "esco": WLCE_ID, "rating_kw": "10"}]
    assert [row["esco"] for row in parse(FEEDERS, feeders, known_before(FEEDERS)).rows] == ["wlce"]


# --- Keys and ids ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind_name", "copy_of", "changes"),
    [
        ("sites", 0, {"code": "WL-LANE", "name": "Another name"}),  # codes are case-blind
        ("properties", 0, {}),
        ("service_heads", 0, {"feeder": "hm-feeder", "phase": "3"}),
        ("service_head_meters", 0, {"service_head": "sh-2"}),  # one meter on two heads
        # The same instant, written in UTC and in UK (winter) time.
        ("circuit_registers", 0, {"start_time": "2024-01-01T00:00"}),
    ],
)
def test_duplicate_keys_reject_every_copy(
    kind_name: str, copy_of: int, changes: dict[str, str]
) -> None:
    kind = KIND[kind_name]
    rows = [*GOOD[kind_name], {**GOOD[kind_name][copy_of], **changes}]
    result = parse(kind, rows, known_before(kind))
    first, last = copy_of + 2, len(rows) + 1
    assert sorted(r.row_number for r in result.rejects) == [first, last]
    by_line = {r.row_number: r for r in result.rejects}
    assert f"also on row(s) {last}" in by_line[first].reason
    assert f"also on row(s) {first}" in by_line[last].reason
    assert all(r.field == kind.key[-1] and "duplicate" in r.reason for r in result.rejects)
    assert first not in {row["source_row"] for row in result.rows}
    assert len(result.rows) == len(rows) - 2


def test_two_escos_giving_the_same_id_are_both_rejected() -> None:
    rows = [*GOOD["escos"], {"id": WLCE_ID, "code": "other", "name": "Other", "region": ""}]
    result = parse(ESCOS, rows, {})
    assert sorted(r.row_number for r in result.rejects) == [2, 4]
    assert [row["code"] for row in result.rows] == ["hazelmead"]


def test_esco_ids_given_are_kept_and_derived_ones_are_stable() -> None:
    first = parse(ESCOS, GOOD["escos"], {}).rows
    again = parse(ESCOS, list(reversed(GOOD["escos"])), {}).rows
    assert first[0]["id"] == uuid.UUID(WLCE_ID)
    derived = first[1]["id"]
    assert isinstance(derived, uuid.UUID) and derived != uuid.UUID(WLCE_ID)
    assert again[0]["id"] == derived  # the same code, another line: the same id
    renamed = parse(ESCOS, with_row("escos", 1, code="hazel"), {}).rows[1]["id"]
    assert renamed != derived
    # Other entities' ids follow their key, wherever the row is.
    parsed, _ = parse_all()
    sites = parse(SITES, list(reversed(GOOD["sites"])), known_before(SITES)).rows
    assert {row["code"]: row["id"] for row in sites} == {
        row["code"]: row["id"] for row in parsed["sites"].rows
    }
    plots = {(row["site"], row["plot"]): row["id"] for row in parsed["properties"].rows}
    assert len(set(plots.values())) == len(plots)


# --- Link times ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T14:00", utc("2026-03-01T14:00")),  # GMT: UTC itself
        ("2026-07-01T14:00", utc("2026-07-01T14:00")),  # BST: an hour ahead of UTC
        ("2026-03-29T02:00", utc("2026-03-29T02:00")),  # just after the clocks went forward
        ("2026-07-01T14:00Z", datetime(2026, 7, 1, 14, 0, tzinfo=UTC)),
        ("2026-07-01T14:00+02:00", datetime(2026, 7, 1, 12, 0, tzinfo=UTC)),
        ("2026-10-25T01:30+01:00", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        ("2026-10-25T01:30Z", datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
    ],
)
def test_link_times_are_uk_time_unless_they_give_an_offset(text: str, expected: datetime) -> None:
    assert utc("2026-03-01T14:00").hour == 14 and utc("2026-07-01T14:00").hour == 13
    rows = with_row("circuit_registers", 0, start_time=text)
    result = parse(CIRCUIT_REGISTERS, rows, known_before(CIRCUIT_REGISTERS))
    assert result.rejects == []
    assert result.rows[0]["start_time"] == expected
    assert result.rows[0]["start_time"].utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-03-29T01:30", "does not exist in UK time"),
        ("2026-10-25T01:30", "is ambiguous in UK time"),
        ("2026-03-01T14:10", "half-hour"),
        ("2026-03-01T14:00:30", "half-hour"),
        ("2026-03-01T14:00+05:45", "half-hour"),  # 08:15 UTC
        ("2026-03-01 2pm", "not a date and time"),
    ],
)
def test_link_times_that_do_not_name_one_half_hour_are_rejected(text: str, reason: str) -> None:
    rows = with_row("circuit_registers", 0, start_time=text)
    result = parse(CIRCUIT_REGISTERS, rows, known_before(CIRCUIT_REGISTERS))
    (reject,) = result.rejects
    assert (reject.row_number, reject.field, reject.value) == (2, "start_time", text)
    assert reason in reject.reason
    assert len(result.rows) == len(rows) - 1


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-03-01T14:00Z", "2026-03-01T14:00Z"),
        ("2026-03-01T14:00Z", "2026-03-01T13:30Z"),
        ("2026-07-01T13:00Z", "2026-07-01T14:00"),  # 14:00 BST is 13:00 UTC: the same instant
    ],
)
def test_end_time_not_after_start_time_is_rejected(start: str, end: str) -> None:
    rows = with_row("circuit_registers", 1, start_time=start, end_time=end)
    result = parse(CIRCUIT_REGISTERS, rows, known_before(CIRCUIT_REGISTERS))
    (reject,) = result.rejects
    assert (reject.row_number, reject.field, reject.value) == (3, "end_time", end)
    assert "end_time must be after start_time" in reject.reason


def test_end_time_after_start_time_in_another_zone_is_accepted() -> None:
    # 14:30 BST is 13:30 UTC: after 13:00 UTC.
    rows = with_row(
        "circuit_registers", 1, start_time="2026-07-01T13:00Z", end_time="2026-07-01T14:30"
    )
    result = parse(CIRCUIT_REGISTERS, rows, known_before(CIRCUIT_REGISTERS))
    assert result.rejects == []
    assert result.rows[1]["end_time"] == utc("2026-07-01T14:30")


# --- Whole files -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_a_missing_required_column_refuses_the_file_naming_it(kind: Kind) -> None:
    for column in kind.required:
        columns = [c for c in kind.parsers if c != column]
        text = csv_text(kind, GOOD[kind.name], columns)
        with pytest.raises(
            InfrastructureFileError, match=rf"{kind.file_name} is missing column\(s\) {column}"
        ):
            parse_infrastructure_csv(kind, io.StringIO(text), known_before(kind))


def test_a_column_named_twice_refuses_the_file_naming_it() -> None:
    text = "code,name,esco,name\nwl-lane,Water Lilies Lane,wlce,Other\n"
    with pytest.raises(
        InfrastructureFileError, match=r"sites\.csv names column\(s\) name more than once"
    ):
        parse_infrastructure_csv(SITES, io.StringIO(text), known_before(SITES))


def test_an_empty_file_is_refused_and_a_header_alone_is_no_rows() -> None:
    with pytest.raises(InfrastructureFileError, match="empty"):
        parse_infrastructure_csv(SITES, io.StringIO(""), {})
    assert parse_infrastructure_csv(SITES, io.StringIO("code,name,esco\n"), {}).rows == []


def test_reading_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / SITES.file_name
    with pytest.raises(InfrastructureFileError, match=rf"{path} does not exist"):
        read_infrastructure_file(SITES, path, known_before(SITES))


def test_reading_a_file_that_is_not_utf8_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / SITES.file_name
    path.write_bytes("code,name,esco\ncaf,Caf\u00e9 Row,wlce\n".encode("latin-1"))
    with pytest.raises(InfrastructureFileError, match=rf"{path} is not UTF-8.*0xe9"):
        read_infrastructure_file(SITES, path, known_before(SITES))


def test_rows_shaped_like_real_exports_load(tmp_path: Path) -> None:
    """A spreadsheet's export: a byte-order mark, CRLF line ends, spaces around values, upper-
    case codes and names, empty optional cells, blank lines and a column of the operator's own."""
    known: dict[str, KeyIndex] = {}
    esco_row = f" WLCE , Water Lilies , {WLCE_ID.upper()} ,, ours"
    texts = [
        (ESCOS, f"code,name,id,region,comment\r\n{esco_row}\r\n\r\n"),
        (SITES, "code,name,esco\r\n WL-Lane ,Water Lilies Lane, wlce \r\n"),
        (FEEDERS, "name,esco,rating_kw\r\nF1,WLCE, 150.5 \r\n"),
        (
            SERVICE_HEADS,
            "name,feeder,phase,fuse_rating,type\r\nSH 1,F1, 3 , 100 ,Network_Owned\r\n",
        ),
        (KIND["circuits"], "name,type,site\r\nC1, POWER ,wl-lane\r\n"),
        (
            CIRCUIT_REGISTERS,
            "circuit,serial,element,start_time,end_time,notes\r\n"
            f"C1, {SINGLE_PHASE} , a , 2026-03-01T14:00 , ,\r\n",
        ),
    ]
    rows = {}
    for kind, text in texts:
        path = tmp_path / kind.file_name
        path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
        result = read_infrastructure_file(kind, path, known)
        assert result.rejects == [], kind.name
        known[kind.name] = key_index(kind, result.rows)
        (rows[kind.name],) = result.rows
    assert (rows["escos"]["code"], rows["escos"]["name"]) == ("wlce", "Water Lilies")
    assert rows["escos"]["id"] == uuid.UUID(WLCE_ID) and rows["escos"]["region"] is None
    assert (rows["sites"]["code"], rows["sites"]["esco"]) == ("wl-lane", "wlce")
    assert (rows["feeders"]["esco"], rows["feeders"]["rating_kw"]) == ("wlce", Decimal("150.5"))
    head = rows["service_heads"]
    assert (head["name"], head["phase"], head["fuse_rating"], head["type"]) == (
        "SH 1",
        3,
        100,
        "network_owned",
    )
    assert rows["circuits"]["type"] == "power"
    link = rows["circuit_registers"]
    assert (link["serial"], link["element"], link["end_time"], link["notes"]) == (
        SINGLE_PHASE,
        "A",
        None,
        None,
    )
    assert link["start_time"] == utc("2026-03-01T14:00")


def test_two_escos_with_one_id_are_both_rejected_on_their_id() -> None:
    rows = ["id,code,name", f"{WLCE_ID},wlce,Water Lilies", f"{WLCE_ID},hmce,Heathfield"]
    result = parse_infrastructure_csv(KIND["escos"], [line + "\n" for line in rows], {})
    assert result.rows == []
    assert [(r.row_number, r.field, r.value) for r in result.rejects] == [
        (2, "id", WLCE_ID),
        (3, "id", WLCE_ID),
    ]
    assert [r.reason for r in result.rejects] == [
        "duplicate id: also on row(s) 3",
        "duplicate id: also on row(s) 2",
    ]


def test_a_reference_message_names_one_of_the_kind() -> None:
    rows = ["site,plot,service_head", "lilies,9 Nowhere,H1"]
    known = {"properties": {}, "service_heads": {("H1",): ("H1",)}}
    (reject,) = parse_infrastructure_csv(
        KIND["property_service_heads"], [line + "\n" for line in rows], known
    ).rejects
    assert reject.reason == ("no property with site 'lilies' plot '9 Nowhere' in properties.csv")
