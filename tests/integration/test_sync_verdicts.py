"""Syncs landed by a run that then failed: no dbt build reads them before a raw check has judged
them, the next run's checks judge them, and the marts read them once they pass; a sync that
fails the structure suite stays out. Real PostgreSQL, simulated meters and the dbt CLI."""

# No `from __future__ import annotations`: Dagster reads the crafted asset's hints at runtime.
import csv
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime

import psycopg
import pytest
from dagster import AssetExecutionContext, ExecuteInProcessResult, asset, materialize

from dagster_project.defs.checks.raw import LEFT_UNJUDGED, raw_snapshot_checks
from dagster_project.defs.registry.assets import meter_registry_raw
from dagster_project.defs.resources import WarehouseResource
from dagster_project.defs.sync.assets import METER_SYNC_SNAPSHOTS
from dagster_project.domain.fleet_sync import sync_id_for_run
from dagster_project.domain.rules.raw_expectations import STRUCTURE_SUITE, SUITE_SEVERITY
from dagster_project.settings import DATABASE_URL
from dagster_project.simulator import FleetConfig
from dagster_project.warehouse import connection
from dagster_project.warehouse.connection import scratch_database
from dagster_project.warehouse.raw_tables import ensure_raw_tables
from dagster_project.warehouse.sync_verdicts import await_judgement, held_back
from tests.support.dbt_cli import run_dbt
from tests.support.fleet_thread import FleetThread
from tests.support.raw_checks import CRAFTED_BUCKET, crafted_rows, land
from tests.support.settings import SYNC, registry_source, warehouse
from tests.support.simulated import QUICK_EMOP

STAGING = "flows_staging.stg_flows_raw__meter_sync_snapshots"
# Meter i of the fleet is put in bucket BUCKET_OF[i]; buckets land in order, so the run lands
# buckets 0 and 1 (and the empty bucket 2) before the database refuses the meter of bucket 3.
BUCKET_OF = (0, 1, 3)
REFUSED = 2


@pytest.fixture(scope="module")
def private_url(database_url: str) -> Iterator[str]:
    """A database of this module's own, so that no other test's unjudged syncs are judged here."""
    with (
        scratch_database(database_url, "flows_verdicts") as url,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv(DATABASE_URL, url)
        yield url


@pytest.fixture
def db(private_url: str) -> Iterator[psycopg.Connection]:
    with connection.connect(private_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def fleet() -> Iterator[FleetThread]:
    thread = FleetThread(FleetConfig(meters=len(BUCKET_OF), seed=4711, freeze_model=True, port=0))
    with thread:
        yield thread


@pytest.fixture(scope="module")
def registry(
    private_url: str, fleet: FleetThread, tmp_path_factory: pytest.TempPathFactory
) -> list[dict]:
    """The fleet's registry under fresh ids (no other test's syncs name them), each chosen to
    fall in its meter's bucket; loaded as the registry asset does."""
    assert len(SYNC.partitions.get_partition_keys()) == 4
    path = tmp_path_factory.mktemp("verdicts") / "registry.csv"
    assert fleet.fleet is not None
    fleet.fleet.write_registry_csv(path)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for row, bucket in zip(rows, BUCKET_OF, strict=True):
        row["id"] = str(uuid.UUID(int=uuid.uuid4().int // 4 * 4 + bucket))
        row["mode"] = "active"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    loaded = materialize(
        [meter_registry_raw],
        resources={"warehouse": warehouse(), "registry_source": registry_source()},
        run_config={"ops": {"flows_raw__meter_registry": {"config": {"csv_path": str(path)}}}},
    )
    assert loaded.success
    return rows


def sync_run(with_checks: bool) -> ExecuteInProcessResult:
    """The fleet sync over every bucket, as the pipeline job runs it."""
    return materialize(
        [SYNC.meter_sync, *raw_snapshot_checks] if with_checks else [SYNC.meter_sync],
        resources={
            "warehouse": warehouse(),
            "registry_source": registry_source(),
            "emop": QUICK_EMOP,
        },
        tags=SYNC.all_buckets_tags(),
        raise_on_error=False,
    )


@pytest.fixture
def refusal(db: psycopg.Connection, registry: list[dict]) -> Iterator[Callable[[], None]]:
    """A trigger that refuses the snapshot of one meter, so that its bucket fails to land;
    yields what lifts the refusal."""
    serial = registry[REFUSED]["serial"]
    db.execute(
        "create function flows_test_refuse() returns trigger language plpgsql as "
        "$$ begin raise exception 'refused the snapshot of %', new.serial; end $$"
    )
    db.execute(
        "create trigger flows_test_refuse before insert on flows_raw.meter_sync_snapshots "
        f"for each row when (new.serial = '{serial}') execute function flows_test_refuse()"
    )

    def lift() -> None:
        db.execute("drop trigger if exists flows_test_refuse on flows_raw.meter_sync_snapshots")

    yield lift
    lift()
    db.execute("drop function flows_test_refuse()")


def build(url: str, models: str = "+meter_shadows") -> None:
    """The marts' view of the snapshots, as the next run's dbt build makes it."""
    result = run_dbt(url, "run", "--select", models)
    assert result.returncode == 0, result.stdout + result.stderr


def syncs_of(db: psycopg.Connection, run_id: str) -> dict[str, uuid.UUID]:
    rows = db.execute(
        "select bucket, sync_id from flows_raw.meter_syncs where run_id = %s", (run_id,)
    ).fetchall()
    return dict(rows)


def verdicts(db: psycopg.Connection, sync_ids: list[uuid.UUID]) -> set[tuple]:
    return set(
        db.execute(
            "select sync_id, suite, passed, judged_by_run from flows_raw.meter_sync_verdicts "
            "where sync_id = any(%s)",
            (sync_ids,),
        ).fetchall()
    )


def staged(db: psycopg.Connection, sync_ids: list[uuid.UUID]) -> int:
    (count,) = db.execute(
        f"select count(*) from {STAGING} where sync_id = any(%s)", (sync_ids,)
    ).fetchone()
    return count


def shadow(db: psycopg.Connection, meter: dict) -> tuple[datetime | None, datetime | None]:
    """When the marts first and last saw the meter."""
    return db.execute(
        "select created_at, updated_at from flows.meter_shadows where id = %s", (meter["id"],)
    ).fetchone()


def polled_at(db: psycopg.Connection, sync_id: uuid.UUID, meter: dict) -> datetime:
    (at,) = db.execute(
        "select polled_at from flows_raw.meter_sync_snapshots where sync_id = %s and meter_id = %s",
        (sync_id, meter["id"]),
    ).fetchone()
    return at


def test_a_failed_runs_syncs_are_read_only_after_the_next_runs_checks_pass_them(
    private_url: str,
    db: psycopg.Connection,
    registry: list[dict],
    refusal: Callable[[], None],
) -> None:
    failed = sync_run(with_checks=True)
    assert not failed.success
    (failure,) = failed.get_step_failure_events()
    assert f"bucket 03-of-04): refused the snapshot of {registry[REFUSED]['serial']}" in (
        failure.step_failure_data.user_failure_data.description
    )
    assert not failed.get_asset_check_evaluations()  # the checks never ran
    landed = syncs_of(db, failed.run_id)
    assert sorted(landed) == ["00-of-04", "01-of-04", "02-of-04"]  # not bucket 3
    unjudged = list(landed.values())
    assert verdicts(db, unjudged) == {
        (sync_id, suite, None, None) for sync_id in unjudged for suite in SUITE_SEVERITY
    }

    assert held_back(db) == (len(unjudged), 0)  # what `flows run` reports as held back
    # The next build: the rows are in flows_raw, but not in what dbt reads.
    build(private_url)
    assert staged(db, unjudged) == 0
    assert shadow(db, registry[0]) == (None, None)  # never seen: no sync of it was read

    refusal()
    following = sync_run(with_checks=True)
    assert following.success
    (structure,) = [
        e for e in following.get_asset_check_evaluations() if e.check_name == STRUCTURE_SUITE
    ]
    assert structure.passed
    assert structure.metadata["earlier_syncs_judged"].value == len(unjudged)
    assert structure.metadata["earlier_syncs_failed"].value == "none"
    assert LEFT_UNJUDGED in (structure.description or "")
    assert verdicts(db, unjudged) == {
        (sync_id, suite, True, following.run_id) for sync_id in unjudged for suite in SUITE_SEVERITY
    }

    assert held_back(db) == (0, 0)
    build(private_url)
    assert staged(db, unjudged) == len(BUCKET_OF) - 1  # the meters of buckets 0 and 1
    newer = syncs_of(db, following.run_id)
    for meter, bucket in ((registry[0], "00-of-04"), (registry[1], "01-of-04")):
        # First seen in the failed run's sync, now that it is read; last seen in the newer one.
        assert shadow(db, meter) == (
            polled_at(db, landed[bucket], meter),
            polled_at(db, newer[bucket], meter),
        )


def test_an_earlier_sync_that_fails_the_structure_suite_stays_out_of_the_marts(
    private_url: str, db: psycopg.Connection
) -> None:
    """A malformed sync left unjudged by its run is judged by the next run's checks: failed."""
    bad = uuid.uuid4()
    with connection.connect(private_url) as conn, conn.transaction():
        ensure_raw_tables(conn)
        land(conn, bad, crafted_rows(bad, malformed=True), run_id=f"ended-{bad}")
        await_judgement(conn, bad, SUITE_SEVERITY)

    @asset(key=METER_SYNC_SNAPSHOTS)
    def clean_sync(context: AssetExecutionContext, warehouse: WarehouseResource) -> None:
        sync_id = sync_id_for_run(context.run_id, CRAFTED_BUCKET)
        with warehouse.connect() as conn, conn.transaction():
            land(conn, sync_id, crafted_rows(sync_id, malformed=False), context.run_id)
            await_judgement(conn, sync_id, SUITE_SEVERITY)

    result = materialize(
        [clean_sync, *raw_snapshot_checks],
        resources={"warehouse": warehouse(), "registry_source": registry_source()},
    )
    (structure,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == STRUCTURE_SUITE
    ]
    assert structure.passed  # its own sync is clean
    assert structure.metadata["earlier_syncs_failed"].value == str(bad)
    assert "1 failed" in (structure.description or "")
    assert {(suite, passed) for _, suite, passed, _ in verdicts(db, [bad])} == {
        ("raw_snapshots_structure", False),
        ("raw_snapshots_plausible", True),
    }
    assert held_back(db) == (0, 1)
    if db.execute("select to_regclass(%s)", (STAGING,)).fetchone()[0] is None:  # run alone
        build(private_url, "stg_flows_raw__meter_sync_snapshots")
    assert staged(db, [bad]) == 0
    (own,) = syncs_of(db, result.run_id).values()
    assert staged(db, [own]) == len(crafted_rows(own, malformed=False))
