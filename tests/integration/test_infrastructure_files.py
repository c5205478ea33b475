"""The infrastructure asset against a real PostgreSQL: good files load; a bad row is rejected
naming its row, field and value while the rest loads; a file that cannot be read, or that is
gone, keeps what was loaded before and fails its check; the registry names ESCOs by code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import psycopg
import pytest
from dagster import AssetCheckSeverity, materialize

from dagster_project.defs.infrastructure.assets import infrastructure_files
from dagster_project.defs.registry.assets import meter_registry_raw
from dagster_project.defs.registry.source import RegistrySource
from dagster_project.defs.resources import WarehouseResource
from dagster_project.warehouse import connection
from dagster_project.warehouse.connection import scratch_database
from tests.support.registry import ESCO, registry_csv, registry_row
from tests.support.settings import current_settings, embedded_server

GOOD = {
    "escos.csv": ["id,code,name,region", f"{ESCO},wlce,Water Lilies CE,South West",
                  ",hmce,Heathfield Meadows CE,"],
    "sites.csv": ["code,name,esco", "lilies,Water Lilies,wlce", "meadows,Heathfield,HMCE"],
    "feeders.csv": ["name,esco,rating_kw", "F1,wlce,150", "F2,hmce,"],
}  # fmt: skip


@pytest.fixture
def infra_db(database_url: str) -> Iterator[str]:
    """A database of its own: the infrastructure is global to a database."""
    server_url = current_settings().database_url or embedded_server().start()
    with scratch_database(server_url, "flows_infra") as url:
        yield url


def write(directory: Path, files: dict[str, list[str]]) -> None:
    directory.mkdir(exist_ok=True)
    for name, lines in files.items():
        (directory / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def load(url: str, directory: Path) -> dict[str, tuple[bool, AssetCheckSeverity, str]]:
    """Run the asset; each kind's check as (passed, severity, description)."""
    result = materialize(
        [infrastructure_files],
        resources={
            "warehouse": WarehouseResource(database_url=url),
            "registry_source": RegistrySource(infrastructure_dir=str(directory)),
        },
    )
    assert result.success  # a bad file fails its check, not the run that loads the others
    return {
        evaluation.asset_key.path[-1]: (
            evaluation.passed,
            evaluation.severity,
            evaluation.description or "",
        )
        for evaluation in result.get_asset_check_evaluations()
    }


def sites(db: psycopg.Connection) -> list[tuple]:
    return db.execute("select code, name, esco from flows_raw.sites order by code").fetchall()


def test_good_files_load_with_references_resolved(infra_db, tmp_path) -> None:
    write(tmp_path, GOOD)
    checks = load(infra_db, tmp_path)
    assert checks["escos"][0] and checks["sites"][0] and checks["feeders"][0]
    # Kinds without a file and with nothing loaded are not this operator's: no problem.
    assert checks["circuits"][0]
    with connection.connect(infra_db, autocommit=True) as db:
        assert sites(db) == [("lilies", "Water Lilies", "wlce"), ("meadows", "Heathfield", "hmce")]
        escos = dict(db.execute("select code, id::text from flows_raw.escos").fetchall())
        assert escos["wlce"] == ESCO
        assert db.execute(
            "select name, rating_kw from flows_raw.feeders order by name"
        ).fetchall() == [("F1", 150), ("F2", None)]


def test_a_bad_row_is_rejected_naming_row_field_and_value_and_the_rest_loads(
    infra_db, tmp_path
) -> None:
    files = {**GOOD, "sites.csv": [*GOOD["sites.csv"], "orchard,Orchard,acme"]}
    write(tmp_path, files)
    checks = load(infra_db, tmp_path)
    passed, severity, description = checks["sites"]
    assert (passed, severity) == (False, AssetCheckSeverity.WARN)
    assert "1 row(s) rejected (rows 4)" in description
    with connection.connect(infra_db, autocommit=True) as db:
        assert [code for code, *_ in sites(db)] == ["lilies", "meadows"]
        assert db.execute(
            "select kind, row_number, field, value, reason from flows_raw.infrastructure_rejects"
        ).fetchall() == [("sites", 4, "esco", "acme", "no ESCO with esco 'acme' in escos.csv")]


def test_a_file_that_cannot_be_read_or_is_gone_keeps_the_last_good_one(infra_db, tmp_path) -> None:
    write(tmp_path, GOOD)
    load(infra_db, tmp_path)
    with connection.connect(infra_db, autocommit=True) as db:
        good_sites = sites(db)

    write(tmp_path, {"sites.csv": ["code,esco", "orchard,wlce"]})  # its name column is lost
    checks = load(infra_db, tmp_path)
    passed, severity, description = checks["sites"]
    assert (passed, severity) == (False, AssetCheckSeverity.ERROR)
    assert "sites.csv is missing column(s) name" in description
    assert "the sites loaded before are kept" in description
    assert checks["escos"][0]  # the other files still loaded
    with connection.connect(infra_db, autocommit=True) as db:
        assert sites(db) == good_sites

    (tmp_path / "sites.csv").unlink()
    passed, severity, description = load(infra_db, tmp_path)["sites"]
    assert (passed, severity) == (False, AssetCheckSeverity.ERROR)
    assert "sites.csv is gone; the 2 sites loaded before are kept" in description
    with connection.connect(infra_db, autocommit=True) as db:
        assert sites(db) == good_sites

    # A file with only its header row is how sites are cleared on purpose.
    write(tmp_path, {"sites.csv": ["code,name,esco"]})
    assert load(infra_db, tmp_path)["sites"][0]
    with connection.connect(infra_db, autocommit=True) as db:
        assert sites(db) == []


def test_the_registry_names_an_esco_by_its_code(infra_db, tmp_path) -> None:
    write(tmp_path, GOOD)
    load(infra_db, tmp_path)
    registry = tmp_path / "registry.csv"
    registry.write_text(
        registry_csv([registry_row(0, esco="HMCE"), registry_row(1), registry_row(2, esco="acme")])
    )
    result = materialize(
        [meter_registry_raw],
        resources={
            "warehouse": WarehouseResource(database_url=infra_db),
            "registry_source": RegistrySource(csv_path=str(registry), max_removed_share=1),
        },
    )
    assert result.success
    with connection.connect(infra_db, autocommit=True) as db:
        (hmce,) = db.execute("select id from flows_raw.escos where code = 'hmce'").fetchone()
        assert db.execute(
            "select serial, esco from flows_raw.meter_registry order by serial"
        ).fetchall() == [(registry_row(0)["serial"], hmce), (registry_row(1)["serial"], UUID(ESCO))]
        assert db.execute(
            "select row_number, field, value from flows_raw.meter_registry_rejects"
        ).fetchall() == [(4, "esco", "acme")]
