"""The whole pipeline: registry file -> flows_raw -> dbt -> flows, queried as BI would."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from dagster import materialize

from dagster_project.defs.dbt.assets import flows_dbt_models
from dagster_project.defs.registry.assets import meter_registry_raw
from dagster_project.defs.resources import dbt_resource
from tests.support.registry import ESCO, registry_csv, registry_row
from tests.support.settings import code_location, registry_source, warehouse

# The Meter Domain page's "Find all active meters for an ESCO", as published.
FIND_ACTIVE_METERS_FOR_ESCO = """
SELECT id, serial, name, ip_address
FROM flows.meter_registry
WHERE mode = 'active'
AND esco = '{{esco_id}}'
ORDER BY name;
"""

OTHER_ESCO = "9b1f0c3e-7d2a-4c55-8e61-0a4d3b2c1e99"


@pytest.fixture(scope="module")
def registry_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = [
        registry_row(0, name="Zephyr Cottage"),
        registry_row(1, name="Apple Barn", hardware=""),
        registry_row(2, name="Mill House", mode="passive"),
        registry_row(3, name="Brook End", esco=OTHER_ESCO),
        registry_row(4, name="Old Forge", serial="EML99"),
        registry_row(5, name="Church Hall", single_meter_app="true", port="9000"),
    ]
    path = tmp_path_factory.mktemp("registry") / "registry.csv"
    path.write_text(registry_csv(rows))
    return path


@pytest.fixture(scope="module")
def built(registry_file: Path) -> None:
    result = materialize(
        [meter_registry_raw, flows_dbt_models],
        resources={
            "warehouse": warehouse(),
            "registry_source": registry_source(),
            "dbt": dbt_resource(),
        },
        run_config={
            "ops": {"flows_raw__meter_registry": {"config": {"csv_path": str(registry_file)}}}
        },
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert checks, "dbt tests should run as asset checks"
    assert all(check.passed for check in checks), [c.check_name for c in checks if not c.passed]


def expected_active_meters(registry_file: Path, esco: str) -> list[tuple[str, str, str, str]]:
    """The answer worked out from the file itself, leaving out the row with a bad serial."""
    with registry_file.open(newline="") as f:
        rows = [
            r for r in csv.DictReader(f) if r["serial"].startswith("EML") and len(r["serial"]) == 13
        ]
    return sorted(
        (
            (r["id"], r["serial"], r["name"], r["ip_address"])
            for r in rows
            if r["mode"] == "active" and r["esco"] == esco
        ),
        key=lambda row: row[2],
    )


@pytest.mark.usefixtures("built")
def test_find_active_meters_for_an_esco_runs_verbatim(registry_file: Path, db) -> None:
    for esco in (ESCO, OTHER_ESCO):
        query = FIND_ACTIVE_METERS_FOR_ESCO.replace("{{esco_id}}", esco)
        rows = db.execute(query).fetchall()
        got = [(str(id_), serial, name, str(ip)) for id_, serial, name, ip in rows]
        assert got == expected_active_meters(registry_file, esco)
    assert [r[2] for r in db.execute(FIND_ACTIVE_METERS_FOR_ESCO.replace("{{esco_id}}", ESCO))] == [
        "Apple Barn",
        "Church Hall",
        "Zephyr Cottage",
    ]


@pytest.mark.usefixtures("built")
def test_mart_mirrors_the_valid_raw_rows(db) -> None:
    mart = db.execute(
        """
        select id, serial, name, ip_address, port, hardware, mode, esco, single_meter_app,
               daylight_savings_correction_enabled, prepay_enabled, registry_loaded_at
        from flows.meter_registry order by serial
        """
    ).fetchall()
    raw = db.execute(
        """
        select id, serial, name, ip_address, port, hardware, mode, esco, single_meter_app,
               daylight_savings_correction_enabled, prepay_enabled, loaded_at
        from flows_raw.meter_registry order by serial
        """
    ).fetchall()
    assert mart == raw
    assert len(mart) == 5
    assert {row[5] for row in mart} == {"C1.w", None}


@pytest.mark.usefixtures("built")
def test_models_land_in_the_named_schemas(db) -> None:
    relations = db.execute(
        """
        select table_schema, table_name, table_type from information_schema.tables
        where table_schema like 'flows%' order by 1, 2
        """
    ).fetchall()
    assert ("flows", "meter_registry", "BASE TABLE") in relations
    assert ("flows_staging", "stg_flows_raw__meter_registry", "VIEW") in relations
    assert {schema for schema, _, _ in relations} == {"flows", "flows_raw", "flows_staging"}
    staging_tables = {name for schema, name, kind in relations if schema == "flows_staging"}
    staging_views = {
        name for schema, name, kind in relations if schema == "flows_staging" and kind == "VIEW"
    }
    # Besides the views, only the incremental builds' bookkeeping (dbt/macros/history.sql,
    # energy_build.sql) and the energy build's windows and half-hours.
    assert staging_tables - staging_views == {
        "history_watermarks",
        "energy_build_state",
        "energy_loads_built",
        "energy_daily_changes",
        "energy_meter_days_changed",
        "energy_shard_days",
        "int_energy_loads",
        "int_energy_windows",
        "int_energy_half_hours_0",
        "int_energy_half_hours_1",
    }


@pytest.mark.usefixtures("built")
def test_mart_contract_keeps_the_primary_key(db) -> None:
    constraint_types = {
        row[0]
        for row in db.execute(
            """
            select constraint_type from information_schema.table_constraints
            where table_schema = 'flows' and table_name = 'meter_registry'
            """
        )
    }
    assert {"PRIMARY KEY", "UNIQUE"} <= constraint_types


def test_the_two_jobs_cover_every_asset_once() -> None:
    defs = code_location()
    pipeline = defs.resolve_job_def("flows_pipeline").asset_layer.executable_asset_keys
    daily = defs.resolve_job_def("daily_logs").asset_layer.executable_asset_keys
    # Operator requests are written by the CLI: in the graph, but nothing to materialize.
    assert pipeline | daily == defs.resolve_asset_graph().materializable_asset_keys
    assert not pipeline & daily
