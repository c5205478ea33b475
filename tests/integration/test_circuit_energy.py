"""Energy per circuit end to end: simulated meters' profile logs downloaded into a database of
their own, the operator's infrastructure files loaded by their asset, and the circuit marts built
by dbt. A register moved from one circuit to another at 14:00 UK time counts for each on its own
side of the move; a register whose evening was never recorded shows in its circuit's
completeness."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from dagster import AssetCheckSeverity, materialize
from psycopg import sql

from dagster_project.defs.infrastructure.assets import infrastructure_files
from dagster_project.defs.infrastructure.checks import (
    feeder_over_rating_check,
    meters_not_placed_check,
    overlapping_circuit_links_check,
    service_head_phases_check,
)
from dagster_project.defs.registry.source import RegistrySource
from dagster_project.defs.resources import WarehouseResource
from dagster_project.warehouse import connection
from tests.support import energy
from tests.support.energy import download, elements, load_registry, read_kwh, serve

DAY = date(2026, 11, 10)  # GMT: the UK day is the UTC day
MOVED_AT = datetime(2026, 11, 10, 14, tzinfo=UTC)
CIRCUITS = ("+circuit_interval_daily", "+circuit_interval_monthly", "+meter_registry")


@pytest.fixture
def energy_database(database_url: str) -> Iterator[str]:
    with energy.energy_database() as url:
        yield url


def write_files(directory: Path, files: dict[str, list[str]]) -> None:
    directory.mkdir(exist_ok=True)
    for name, lines in files.items():
        (directory / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def infrastructure(fleet, moved: tuple[str, str], steady: tuple[str, str]) -> dict:
    """One ESCO per simulated ESCO id, one site, and two circuits: `moved` (serial, element) on
    circuit `before` until 14:00 UK time (written as UK local time, as operators do), then on
    `after`; `steady` on `before` throughout."""
    escos = sorted({str(meter.spec.esco) for meter in fleet.meters})
    return {
        "escos.csv": ["id,code,name,region"]
        + [f"{esco},E{n},ESCO {n},South West" for n, esco in enumerate(escos)],
        "sites.csv": ["code,name,esco", "meadow,Meadow Way,e0"],
        "circuits.csv": ["name,type,site", "before,power,meadow", "after,heat,MEADOW"],
        "circuit_registers.csv": [
            "circuit,serial,element,start_time,end_time,notes",
            f"before,{moved[0]},{moved[1]},2026-11-01T00:00Z,2026-11-10T14:00,",
            f"after,{moved[0]},{moved[1]},2026-11-10T14:00,,moved to the heat pump",
            f"before,{steady[0]},{steady[1]},2026-11-01T00:00Z,,",
        ],
    }


def load_infrastructure(url: str, directory: Path):
    resources = {
        "warehouse": WarehouseResource(database_url=url),
        "registry_source": RegistrySource(infrastructure_dir=str(directory)),
    }
    result = materialize([infrastructure_files], resources=resources)
    assert result.success
    return result


def circuit_day(db: psycopg.Connection, circuit: str) -> tuple:
    return db.execute(
        "select import_kwh, half_hours, register_half_hours, register_half_hours_actual, "
        "register_half_hours_missing, completeness from flows.circuit_interval_daily "
        "where circuit_name = %s and date = %s",
        (circuit, DAY),
    ).fetchone()


def test_a_register_moved_at_14_00_counts_for_each_circuit_on_its_side_of_the_move(
    energy_database, tmp_path
) -> None:
    with serve(datetime(2026, 11, 11, 3, tzinfo=UTC), history_days=2) as fleet:
        load_registry(energy_database, fleet, tmp_path)
        moved = (fleet.meters[0].serial, elements(fleet.meters[0])[0])
        steady = (fleet.meters[1].serial, elements(fleet.meters[1])[-1])
        write_files(tmp_path / "infra", infrastructure(fleet, moved, steady))
        load_infrastructure(energy_database, tmp_path / "infra")
        download(energy_database, DAY.isoformat())
    energy.build(energy_database, *CIRCUITS)

    midnight, next_midnight = MOVED_AT.replace(hour=0), MOVED_AT.replace(hour=0) + timedelta(1)
    with connection.connect(energy_database, autocommit=True) as db:
        before_move = read_kwh(db, *moved, midnight, MOVED_AT)
        after_move = read_kwh(db, *moved, MOVED_AT, next_midnight)
        steady_day = read_kwh(db, *steady, midnight, next_midnight)
        # The day's sums, to the Wh: each circuit has the moved register on its side only.
        before = circuit_day(db, "before")
        after = circuit_day(db, "after")
        assert before[0] == before_move + steady_day
        assert after[0] == after_move
        # Both registers before 14:00 on `before`, one after; `after` starts at 14:00.
        assert before[1:5] == (48, 48 + 28, 48 + 28, 0)
        assert after[1:5] == (20, 20, 20, 0)
        assert before[5] == after[5] == 1
        (first_after,) = db.execute(
            'select min("timestamp") from flows.circuit_interval_hh where circuit_name = %s',
            ("after",),
        ).fetchone()
        assert first_after == MOVED_AT
        registers = dict(
            db.execute(
                'select "timestamp", registers from flows.circuit_interval_hh '
                "where circuit_name = 'before' and \"timestamp\" in (%s, %s)",
                (MOVED_AT - timedelta(minutes=30), MOVED_AT),
            ).fetchall()
        )
        assert registers == {MOVED_AT - timedelta(minutes=30): 2, MOVED_AT: 1}
        # The month holds the day; the circuits and the registry know the site and the ESCO.
        (month_kwh,) = db.execute(
            "select import_kwh from flows.circuit_interval_monthly "
            "where circuit_name = 'before' and month = %s",
            (DAY.replace(day=1),),
        ).fetchone()
        assert month_kwh >= before[0]
        assert db.execute(
            "select type, site_code from flows.circuits order by name"
        ).fetchall() == [("heat", "meadow"), ("power", "meadow")]
        (esco_code, esco_name) = db.execute(
            "select esco_code, esco_name from flows.meter_registry where serial = %s",
            (moved[0],),
        ).fetchone()
        expected = sorted({str(meter.spec.esco) for meter in fleet.meters}).index(
            str(fleet.meters[0].spec.esco)
        )
        assert (esco_code, esco_name) == (f"e{expected}", f"ESCO {expected}")


def test_a_register_whose_evening_was_not_recorded_shows_in_its_circuits_completeness(
    energy_database, tmp_path
) -> None:
    with serve(datetime(2026, 11, 11, 3, tzinfo=UTC), history_days=2) as fleet:
        load_registry(energy_database, fleet, tmp_path)
        moved = (fleet.meters[2].serial, elements(fleet.meters[2])[0])
        steady = (fleet.meters[3].serial, elements(fleet.meters[3])[0])
        write_files(tmp_path / "infra", infrastructure(fleet, moved, steady))
        load_infrastructure(energy_database, tmp_path / "infra")
        download(energy_database, DAY.isoformat())
    silent_from = datetime(2026, 11, 10, 20, tzinfo=UTC)
    with connection.connect(energy_database, autocommit=True) as db:
        # The steady register's meter recorded nothing after 20:00 (the other meters did).
        for log in ("profile_log_1", "profile_log_2"):
            db.execute(
                sql.SQL("delete from {} where serial = %s and record_timestamp > %s").format(
                    sql.Identifier("flows_raw", log)
                ),
                (steady[0], silent_from),
            )
    energy.build(energy_database, *CIRCUITS)
    with connection.connect(energy_database, autocommit=True) as db:
        import_kwh, half_hours, register_half_hours, actual, missing, completeness = circuit_day(
            db, "before"
        )
        # 20:00-24:00 of the steady register: 8 half-hours with no closing read.
        assert missing == 8
        assert (half_hours, register_half_hours, actual) == (48, 48 + 28, 48 + 28 - 8)
        assert completeness == round(Decimal(48 + 28 - 8) / (48 + 28), 4)
        # Its recorded part is still summed: up to its last read.
        assert import_kwh == read_kwh(db, *moved, MOVED_AT.replace(hour=0), MOVED_AT) + read_kwh(
            db, *steady, MOVED_AT.replace(hour=0), silent_from
        )
        evening = db.execute(
            "select registers_missing, completeness from flows.circuit_interval_hh "
            "where circuit_name = 'before' and \"timestamp\" = %s",
            (silent_from,),
        ).fetchone()
        assert evening == (1, 0)


def test_the_infrastructure_checks_name_what_is_wrong(energy_database, tmp_path) -> None:
    # The feeder check looks at the half-hours since yesterday: a fleet of today.
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with serve(now, history_days=2) as fleet:
        load_registry(energy_database, fleet, tmp_path)
        serials = [meter.serial for meter in fleet.meters]
        moved = (serials[0], elements(fleet.meters[0])[0])
        steady = (serials[1], elements(fleet.meters[1])[0])
        files = infrastructure(fleet, moved, steady)
        # The steady register also goes on `after` at noon, before it leaves `before`.
        files["circuit_registers.csv"].append(f"after,{steady[0]},{steady[1]},2026-11-10T12:00Z,,")
        files["feeders.csv"] = ["name,esco,rating_kw", "F1,e0,0.01"]
        files["service_heads.csv"] = [
            "name,feeder,phase,fuse_rating,type",
            "H1,F1,1,100,network_owned",
        ]
        # Two single-phase meters on a single-phase head; meters 2 and 3 on none.
        files["service_head_meters.csv"] = [
            "service_head,serial",
            f"H1,{serials[0]}",
            f"H1,{serials[1]}",
        ]
        write_files(tmp_path / "infra", files)
        load_infrastructure(energy_database, tmp_path / "infra")
        download(energy_database, (now.date() - timedelta(days=1)).isoformat())
    energy.build(energy_database, *CIRCUITS, "+service_head_meters", "+service_heads", "+feeders")
    warehouse = WarehouseResource(database_url=energy_database)

    not_placed = meters_not_placed_check(warehouse=warehouse)
    assert (not_placed.passed, not_placed.severity) == (False, AssetCheckSeverity.WARN)
    assert f"{serials[2]}, {serials[3]}" in not_placed.description
    assert not_placed.metadata["meters_without_service_head"].value == 2

    phases = service_head_phases_check(warehouse=warehouse)
    assert (phases.passed, phases.severity) == (False, AssetCheckSeverity.ERROR)
    assert "H1 (2 of 1)" in phases.description

    overlap = overlapping_circuit_links_check(warehouse=warehouse)
    assert (overlap.passed, overlap.severity) == (False, AssetCheckSeverity.ERROR)
    assert f"{steady[0]} {steady[1]} on before and after" in overlap.description

    feeder = feeder_over_rating_check(warehouse=warehouse)
    assert (feeder.passed, feeder.severity) == (False, AssetCheckSeverity.WARN)
    assert "1 feeder(s) loaded over their rating" in feeder.description
