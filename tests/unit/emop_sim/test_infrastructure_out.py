"""The infrastructure files written beside a simulated fleet's registry (and the demo's), read
back the way the infrastructure asset reads them: every file in load order, each against the
kinds before it. Without a database or a network."""

from __future__ import annotations

import csv
import filecmp
import io
import itertools
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dagster_project.domain.fleet_sync import TWIN_ELEMENT_MODELS
from dagster_project.domain.infrastructure import (
    KINDS,
    KeyIndex,
    ParsedFile,
    key_index,
    read_infrastructure_file,
)
from dagster_project.domain.registry import RegistryMeter, parse_registry_csv, read_registry_file
from dagster_project.paths import DEMO_REGISTRY_CSV
from dagster_project.simulator import FleetConfig, SimulatedFleet
from dagster_project.simulator.identity import esco_ids, home_name
from dagster_project.simulator.infrastructure_out import (
    LINKS_SINCE,
    infrastructure_for_registry,
    street_of,
    write_infrastructure_files,
)
from tests.support.registry import registry_csv, registry_row

ORIGIN = datetime(2024, 7, 3, 12, 5, tzinfo=UTC)


def read_directory(directory: Path) -> dict[str, ParsedFile]:
    """Every kind's file of `directory`, in load order, each against the kinds before it."""
    known: dict[str, KeyIndex] = {}
    parsed = {}
    for kind in KINDS:
        parsed[kind.name] = read_infrastructure_file(kind, directory / kind.file_name, known)
        known[kind.name] = key_index(kind, parsed[kind.name].rows)
    return parsed


def data_lines(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as lines:
        return sum(1 for _ in csv.reader(lines)) - 1


def meter_elements(meter: RegistryMeter) -> set[str]:
    return {"A", "B"} if meter.hardware in TWIN_ELEMENT_MODELS else {"SINGLE"}


def check_fleet_infrastructure(
    directory: Path, meters: list[RegistryMeter]
) -> dict[str, ParsedFile]:
    """What every generated set of files must be, against the registry's meters."""
    files = read_directory(directory)
    for name, parsed in files.items():
        assert parsed.rejects == [], name
        assert len(parsed.rows) == data_lines(directory / f"{name}.csv") > 0, name
    rows = {name: parsed.rows for name, parsed in files.items()}

    # Every meter has a service head whose phases carry it, on a property of its own ESCO.
    esco_code = {row["id"]: row["code"] for row in rows["escos"]}
    site_esco = {row["code"]: row["esco"] for row in rows["sites"]}
    feeder_esco = {row["name"]: row["esco"] for row in rows["feeders"]}
    heads = {row["name"]: row for row in rows["service_heads"]}
    head_site = {row["service_head"]: row["site"] for row in rows["property_service_heads"]}
    head_of = {row["serial"]: row["service_head"] for row in rows["service_head_meters"]}
    assert set(head_of) == {meter.serial for meter in meters}
    phases_used: dict[str, int] = defaultdict(int)
    for meter in meters:
        head = heads[head_of[meter.serial]]
        phases_used[head["name"]] = max(phases_used[head["name"]], 3 if meter.three_phase else 1)
        assert esco_code[meter.esco] == feeder_esco[head["feeder"]]
        assert esco_code[meter.esco] == site_esco[head_site[head["name"]]]
    for name, used in phases_used.items():
        assert used <= heads[name]["phase"], name
    assert {row["fuse_rating"] for row in heads.values()} == {100}
    assert {row["type"] for row in heads.values()} <= {"network_owned", "customer_owned"}

    # Each feeder is rated above its service heads' fuses at full current on every phase.
    fused_kw: dict[str, float] = defaultdict(float)
    for head in heads.values():
        fused_kw[head["feeder"]] += head["phase"] * head["fuse_rating"] * 230 / 1000
    for feeder in rows["feeders"]:
        assert feeder["rating_kw"] >= fused_kw[feeder["name"]]

    # Every register of every meter is on a circuit of the meter's site; no register is on two
    # circuits at once; at least one moves from one circuit to another at a half-hour.
    circuits = {row["name"]: row for row in rows["circuits"]}
    links: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for link in rows["circuit_registers"]:
        links[(link["serial"], link["element"])].append(link)
    assert set(links) == {(m.serial, e) for m in meters for e in meter_elements(m)}
    moves = []
    for meter in meters:
        site = head_site[head_of[meter.serial]]
        for element in meter_elements(meter):
            on = sorted(links[(meter.serial, element)], key=lambda link: link["start_time"])
            assert on[0]["start_time"] == LINKS_SINCE
            assert on[-1]["end_time"] is None
            for before, after in itertools.pairwise(on):
                assert before["end_time"] is not None
                assert before["end_time"] <= after["start_time"]
                if before["end_time"] == after["start_time"]:
                    assert before["circuit"] != after["circuit"]
                    moves.append(after["start_time"])
            for link in on:
                circuit = circuits[link["circuit"]]
                assert circuit["site"] == site
                expected = (
                    "solar"
                    if meter.direction_reversed
                    else "heat"
                    if element == "B" and link["end_time"] is None
                    else "power"
                )
                assert circuit["type"] == expected
    assert moves
    for moment in moves:
        assert moment.minute in (0, 30) and moment.second == 0
    return files


def esco_codes(directory: Path) -> dict[str, uuid.UUID]:
    parsed = read_directory(directory)["escos"]
    return {row["code"]: row["id"] for row in parsed.rows}


def test_a_simulated_fleet_has_infrastructure_files_beside_its_registry(tmp_path: Path) -> None:
    config = FleetConfig(meters=120, seed=5, sim_origin=ORIGIN, passive_fraction=0.1)
    fleet = SimulatedFleet(config)
    registry = tmp_path / "fleet" / "meter_registry.csv"
    assert fleet.write_registry_csv(registry) == 120
    assert sorted(p.name for p in registry.parent.iterdir()) == sorted(
        [registry.name, *(kind.file_name for kind in KINDS)]
    )
    result = read_registry_file(registry, esco_codes(registry.parent))
    assert result.rejects == []
    files = check_fleet_infrastructure(registry.parent, result.meters)

    escos = files["escos"].rows
    assert [row["id"] for row in escos] == list(esco_ids(config))
    assert all(row["code"] == row["code"].lower() and row["name"] for row in escos)
    assert all(row["region"] for row in escos)
    # A few sites per ESCO, one property per meter named after it, one or two feeders each.
    sites_of = defaultdict(set)
    for site in files["sites"].rows:
        sites_of[site["esco"]].add(site["code"])
    assert all(len(sites) >= 2 for sites in sites_of.values())
    assert len(files["sites"].rows) < len(result.meters) / 3
    assert sorted(row["plot"] for row in files["properties"].rows) == sorted(
        meter.name for meter in result.meters
    )
    feeders_of = defaultdict(int)
    for feeder in files["feeders"].rows:
        feeders_of[feeder["esco"]] += 1
    assert set(feeders_of.values()) <= {1, 2}
    types = [row["type"] for row in files["service_heads"].rows]
    assert types.count("network_owned") > types.count("customer_owned") > 0

    # The move happens within the history the meters hold, so readings fall on both sides.
    (move,) = {
        link["start_time"] for link in files["circuit_registers"].rows if link["end_time"] is None
    } - {LINKS_SINCE}
    history_start = datetime.combine(ORIGIN.date(), datetime.min.time(), UTC) - timedelta(days=1)
    assert history_start < move < ORIGIN


def test_same_fleet_same_files_and_another_seed_other_files(tmp_path: Path) -> None:
    def files(seed: int, name: str) -> Path:
        config = FleetConfig(meters=30, seed=seed, sim_origin=ORIGIN)
        SimulatedFleet(config).write_registry_csv(tmp_path / name / "meter_registry.csv")
        return tmp_path / name

    first, again, other = files(7, "first"), files(7, "again"), files(8, "other")
    names = [kind.file_name for kind in KINDS]
    assert filecmp.cmpfiles(first, again, names, shallow=False)[0] == names
    assert filecmp.cmpfiles(first, other, names, shallow=False)[0] != names
    assert not list(first.glob("*.partial"))


def test_rewriting_replaces_the_files_whole(tmp_path: Path) -> None:
    registry = tmp_path / "meter_registry.csv"
    SimulatedFleet(FleetConfig(meters=40, seed=3, sim_origin=ORIGIN)).write_registry_csv(registry)
    SimulatedFleet(FleetConfig(meters=6, seed=3, sim_origin=ORIGIN)).write_registry_csv(registry)
    meters = read_registry_file(registry).meters
    assert len(meters) == 6
    check_fleet_infrastructure(tmp_path, meters)


def registry_meters(rows: list[dict[str, str]]) -> list[RegistryMeter]:
    result = parse_registry_csv(io.StringIO(registry_csv(rows)))
    assert result.rejects == []
    return result.meters


def test_three_phase_solar_shared_plots_and_a_fleet_without_twin_elements(tmp_path: Path) -> None:
    esco = str(uuid.UUID(int=77))
    rows = [
        registry_row(0, name="1 Oak Road", hardware="B1.w", esco=esco),
        registry_row(1, name="2 Oak Road", hardware="P1.ax", esco=esco),
        registry_row(2, name="Flat 3, 5 Oak Road", hardware="", serial="EMP1CX00012345", esco=esco),
        registry_row(3, name="3 Oak Road", hardware="EMA1.w", direction_reversed="true", esco=esco),
        registry_row(4, name="3 Oak Road", hardware="B1.w", esco=esco),  # two meters, one plot
        registry_row(5, name="Mill House", hardware="B1.w", esco=esco),
    ]
    meters = registry_meters(rows)
    write_infrastructure_files(tmp_path, infrastructure_for_registry(rows))
    files = check_fleet_infrastructure(tmp_path, meters)

    phase_of = {row["name"]: row["phase"] for row in files["service_heads"].rows}
    head_of = {row["serial"]: row["service_head"] for row in files["service_head_meters"].rows}
    for meter in meters:
        assert phase_of[head_of[meter.serial]] == (3 if meter.three_phase else 1)
    assert head_of[rows[3]["serial"]] == head_of[rows[4]["serial"]]
    assert len(files["properties"].rows) == 5
    assert {row["name"] for row in files["sites"].rows} == {"Oak Road", "Mill House"}
    solar = [row for row in files["circuits"].rows if row["type"] == "solar"]
    assert [row["site"] for row in solar] == [head_of[rows[3]["serial"]].split("/")[0]]
    # Without a heat register the first register moves to a second circuit of its type.
    assert "heat" not in {row["type"] for row in files["circuits"].rows}
    first = [
        link for link in files["circuit_registers"].rows if link["serial"] == rows[0]["serial"]
    ]
    assert len({link["circuit"] for link in first}) == 2


def test_escos_named_by_code_in_the_registry_are_listed_by_code(tmp_path: Path) -> None:
    rows = [registry_row(0, esco="Acme"), registry_row(1, esco="acme"), registry_row(2)]
    write_infrastructure_files(tmp_path, infrastructure_for_registry(rows))
    codes = esco_codes(tmp_path)
    assert "acme" in codes and len(codes) == 2
    result = read_registry_file(_written(tmp_path / "meter_registry.csv", rows), codes)
    assert result.rejects == []
    assert result.meters[0].esco == result.meters[1].esco == codes["acme"]
    check_fleet_infrastructure(tmp_path, result.meters)


def _written(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text(registry_csv(rows), encoding="utf-8")
    return path


def test_move_instant_off_the_half_hour_is_refused() -> None:
    with pytest.raises(ValueError, match="half-hour"):
        infrastructure_for_registry([], move_at=datetime(2026, 6, 1, 0, 10, tzinfo=UTC))


def test_the_demo_infrastructure_files_are_the_generators_for_the_demo_registry(
    tmp_path: Path,
) -> None:
    demo = DEMO_REGISTRY_CSV.parent
    with DEMO_REGISTRY_CSV.open(newline="", encoding="utf-8") as registry:
        write_infrastructure_files(tmp_path, infrastructure_for_registry(csv.DictReader(registry)))
    names = [kind.file_name for kind in KINDS]
    same = filecmp.cmpfiles(demo, tmp_path, names, shallow=False)[0]
    assert same == names, "remake them: see write_infrastructure_for_registry"
    codes = esco_codes(demo)
    result = read_registry_file(DEMO_REGISTRY_CSV, codes)
    assert result.rejects == []
    check_fleet_infrastructure(demo, result.meters)
    assert set(codes.values()) == {meter.esco for meter in result.meters}


def test_simulated_homes_have_unique_names_on_streets_of_a_dozen() -> None:
    names = [home_name(index) for index in range(50_000)]
    assert len(set(names)) == len(names)
    streets = Counter(street_of(name) for name in names[: 24 * 12])
    assert set(streets.values()) == {12}
    assert street_of(names[0]) == street_of(names[24 * 12]) != street_of(names[12])


@pytest.mark.parametrize(
    ("name", "street"),
    [
        ("1 Water Lilies Lane", "Water Lilies Lane"),
        ("4 Water Lilies Lane (twin)", "Water Lilies Lane"),
        ("12a Oak Road", "Oak Road"),
        ("Flat 3, 12 Oak Road", "Oak Road"),
        ("Hazelmead Cottage 2", "Hazelmead Cottage"),
        ("Water Lilies Community Hall", "Water Lilies Community Hall"),
        ("42", "42"),
    ],
)
def test_street_of(name: str, street: str) -> None:
    assert street_of(name) == street
