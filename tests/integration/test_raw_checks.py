"""The raw-snapshot checks against a real PostgreSQL: a simulated fleet's sync passes, crafted bad
rows fail naming their serials, and a failing structure check keeps the dbt marts from building."""

# No `from __future__ import annotations`: Dagster reads the crafted asset's hints at runtime.
import csv
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AssetSpec,
    Config,
    ExecuteInProcessResult,
    asset,
    materialize,
)

from dagster_project.defs.checks.raw import raw_snapshot_checks, raw_snapshots_structure
from dagster_project.defs.dbt.assets import flows_dbt_models
from dagster_project.defs.registry.assets import meter_registry_raw
from dagster_project.defs.resources import WarehouseResource, dbt_resource
from dagster_project.defs.sync.assets import METER_SYNC_SNAPSHOTS
from dagster_project.domain.fleet_sync import sync_id_for_run
from dagster_project.domain.rules.raw_expectations import PLAUSIBILITY_SUITE, STRUCTURE_SUITE
from dagster_project.simulator import FleetConfig
from dagster_project.warehouse.sync_store import LANDED_BY_THIS_RUN, LATEST_RUN
from tests.support.fleet_thread import FleetThread
from tests.support.raw_checks import (
    CLEAN_BALANCE,
    CRAFTED_BUCKET,
    MALFORMED_NAMES,
    METERS,
    crafted_rows,
    forget,
    land,
    snapshot,
)
from tests.support.registry import registry_csv
from tests.support.settings import SYNC, registry_source, warehouse
from tests.support.simulated import QUICK_EMOP

METER_SHADOWS = AssetKey(["flows", "meter_shadows"])


class CraftedSyncConfig(Config):
    malformed: bool = False


@asset(key=METER_SYNC_SNAPSHOTS)
def crafted_sync(
    context: AssetExecutionContext, config: CraftedSyncConfig, warehouse: WarehouseResource
) -> None:
    """Stands in for the fleet sync: lands this run's sync from crafted rows."""
    sync_id = sync_id_for_run(context.run_id, CRAFTED_BUCKET)
    with warehouse.connect() as conn:
        land(conn, sync_id, crafted_rows(sync_id, config.malformed), context.run_id)


def evaluation(result: ExecuteInProcessResult, name: str) -> AssetCheckEvaluation:
    (found,) = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return found


def named_serials(check: AssetCheckEvaluation) -> dict[str, list[str]]:
    return {
        failure["expectation"]: sorted(bad["serial"] for bad in failure["sample"])
        for failure in check.metadata["failures_json"].value
    }


def materialized(result: ExecuteInProcessResult) -> set[AssetKey]:
    return {event.asset_key for event in result.get_asset_materialization_events()}


def write_registry(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text(registry_csv(rows))
    return path


def registry_config(path: Path) -> dict:
    return {"ops": {"flows_raw__meter_registry": {"config": {"csv_path": str(path)}}}}


@pytest.fixture(scope="module")
def fleet_sync(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExecuteInProcessResult]:
    """A real sync of a small simulated fleet: one meter NAKs a read, one is passive."""
    config = FleetConfig(meters=7, seed=77, faults={2: "nak"}, freeze_model=True, port=0)
    with FleetThread(config) as fleet:
        path = tmp_path_factory.mktemp("fleet") / "registry.csv"
        fleet.write_registry_csv(path)
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        rows[5]["mode"] = "passive"
        write_registry(path, rows)
        yield materialize(
            [meter_registry_raw, SYNC.meter_sync, *raw_snapshot_checks],
            resources={
                "warehouse": warehouse(),
                "registry_source": registry_source(),
                "emop": QUICK_EMOP,
            },
            run_config=registry_config(path),
            tags=SYNC.all_buckets_tags(),
        )


def test_a_simulated_fleets_sync_passes_both_checks(fleet_sync: ExecuteInProcessResult) -> None:
    assert fleet_sync.success
    landed = fleet_sync.asset_materializations_for_node("flows_raw__meter_sync_snapshots")[0]
    # The NAK: a partial read, well formed, counted as reached.
    assert landed.metadata["meters_partial"].value == 1
    assert landed.metadata["meters_failed"].value == 0
    for name, severity in (
        (STRUCTURE_SUITE, AssetCheckSeverity.ERROR),
        (PLAUSIBILITY_SUITE, AssetCheckSeverity.WARN),
    ):
        check = evaluation(fleet_sync, name)
        assert check.passed, check.description
        assert check.severity == severity
        # One sync per bucket, all of them checked together.
        assert check.metadata["sync_ids"].value == landed.metadata["sync_id"].value
        assert landed.metadata["buckets"].value == 4
        assert check.metadata["sync_chosen"].value == LANDED_BY_THIS_RUN
        assert check.metadata["rows_checked"].value == 7
        assert check.metadata["failures_json"].value == []


def test_run_alone_the_check_reads_the_latest_sync_and_names_the_bad_rows(
    database_url: str, db: psycopg.Connection
) -> None:
    sync_id = uuid.uuid4()
    land(db, sync_id, crafted_rows(sync_id, malformed=True), run_id=None)
    try:
        # As from the UI: the checks selected on their own, the asset not materialized.
        result = materialize(
            [AssetSpec(METER_SYNC_SNAPSHOTS), *raw_snapshot_checks],
            selection=AssetSelection.checks(*raw_snapshot_checks),
            resources={"warehouse": warehouse(), "registry_source": registry_source()},
            raise_on_error=False,
        )
    finally:
        forget(database_url, sync_id)
    structure = evaluation(result, STRUCTURE_SUITE)
    assert not structure.passed and structure.severity == AssetCheckSeverity.ERROR
    assert structure.metadata["sync_ids"].value == str(sync_id)
    assert structure.metadata["sync_chosen"].value == LATEST_RUN
    assert structure.metadata["rows_checked"].value == len(METERS) + 1
    assert named_serials(structure) == {k: sorted(v) for k, v in MALFORMED_NAMES.items()}
    failures = {f["expectation"]: f for f in structure.metadata["failures_json"].value}
    assert failures["tariffs_active_shape"]["unexpected_count"] == 1
    (late,) = failures["polled_at_not_in_future"]["sample"]
    assert late["column"] == "polled_at" and late["value"].startswith(str(datetime.now(UTC).year))
    assert "XYZ1" in structure.metadata["failures"].value  # the operator's table
    assert "5 of 10 expectations failed" in structure.description
    plausible = evaluation(result, PLAUSIBILITY_SUITE)
    assert plausible.passed and plausible.severity == AssetCheckSeverity.WARN


def test_the_table_itself_refuses_one_meter_twice_in_a_sync(db: psycopg.Connection) -> None:
    sync_id = uuid.uuid4()
    row = snapshot(sync_id, METERS[0], datetime.now(UTC))
    with pytest.raises(psycopg.errors.UniqueViolation):
        land(db, sync_id, [row, row], run_id=None)


@pytest.fixture(scope="module")
def crafted_registry(tmp_path_factory: pytest.TempPathFactory) -> None:
    path = write_registry(tmp_path_factory.mktemp("crafted") / "registry.csv", METERS)
    result = materialize(
        [meter_registry_raw],
        resources={"warehouse": warehouse(), "registry_source": registry_source()},
        run_config=registry_config(path),
    )
    assert result.success


def build_with_crafted_sync(malformed: bool) -> ExecuteInProcessResult:
    """One run, as the pipeline job: the crafted sync, the blocking check, every dbt model."""
    return materialize(
        [crafted_sync, raw_snapshots_structure, flows_dbt_models],
        resources={
            "warehouse": warehouse(),
            "registry_source": registry_source(),
            "dbt": dbt_resource(),
        },
        run_config={
            "ops": {"flows_raw__meter_sync_snapshots": {"config": {"malformed": malformed}}}
        },
        raise_on_error=False,
    )


def shadow_balances(db: psycopg.Connection) -> set[Decimal]:
    rows = db.execute(
        "select balance from flows.meter_shadows where id = any(%s)",
        ([uuid.UUID(meter["id"]) for meter in METERS],),
    ).fetchall()
    assert len(rows) == len(METERS)
    return {balance for (balance,) in rows}


@pytest.fixture(scope="module")
def clean_build(crafted_registry: None) -> ExecuteInProcessResult:
    return build_with_crafted_sync(malformed=False)


def test_a_clean_sync_passes_and_the_marts_build(
    clean_build: ExecuteInProcessResult, db: psycopg.Connection
) -> None:
    assert clean_build.success
    assert evaluation(clean_build, STRUCTURE_SUITE).passed
    assert METER_SHADOWS in materialized(clean_build)
    assert shadow_balances(db) == {CLEAN_BALANCE}


def test_a_malformed_sync_blocks_the_marts_in_the_same_run(
    clean_build: ExecuteInProcessResult, database_url: str, db: psycopg.Connection
) -> None:
    result = build_with_crafted_sync(malformed=True)
    forget(database_url, sync_id_for_run(result.run_id, CRAFTED_BUCKET))

    check = evaluation(result, STRUCTURE_SUITE)
    assert not check.passed and check.severity == AssetCheckSeverity.ERROR
    assert check.metadata["sync_chosen"].value == LANDED_BY_THIS_RUN
    assert named_serials(check) == {k: sorted(v) for k, v in MALFORMED_NAMES.items()}
    assert not result.success
    # The raw sync landed; not one dbt model ran, so the marts keep the clean sync's values.
    assert materialized(result) == {METER_SYNC_SNAPSHOTS}
    assert not result.asset_materializations_for_node("flows_dbt_models")
    assert shadow_balances(db) == {CLEAN_BALANCE}
