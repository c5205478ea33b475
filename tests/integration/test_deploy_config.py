"""deploy/dagster.yaml as production runs it: a Dagster instance on PostgreSQL, a run queue with
per-ESCO limits, and sensor ticks that do not pile up."""

import shutil
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus, OpExecutionContext, job, op
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.remote_origin import (
    GrpcServerCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.scheduler.instigation import TickData, TickStatus
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)
from dagster._utils.error import SerializableErrorInfo
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from dagster_project.paths import PROJECT_ROOT
from dagster_project.warehouse import connection
from dagster_project.warehouse.connection import scratch_database

DAGSTER_YAML = PROJECT_ROOT / "deploy" / "dagster.yaml"
HELLO = "hello from the production instance"
ESCO_A = "0b6f3c1e-0000-4000-8000-00000000000a"
ESCO_B = "0b6f3c1e-0000-4000-8000-00000000000b"
SYNC_SCHEDULE = {"dagster/schedule_name": "fleet_sync_every_15_minutes"}


@op
def say_hello(context: OpExecutionContext) -> None:
    context.log.info(HELLO)


@job
def hello() -> None:
    say_hello()


def dagster_storage_url(libpq_url: str) -> str:
    """The URL as DAGSTER_PG_URL takes it: SQLAlchemy's, on psycopg2 (sockets stay in ?host=)."""
    parts = urlsplit(connection.libpq_url(libpq_url))
    return urlunsplit(parts._replace(scheme="postgresql+psycopg2"))


@pytest.fixture
def storage_database(database_url: str) -> Iterator[str]:
    """An empty database for Dagster's own tables, beside the pipeline's."""
    with scratch_database(database_url, "flows_dagster") as url:
        yield url


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DAGSTER_YAML, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_COMPUTE_LOGS_DIR", str(tmp_path / "compute_logs"))
    return home


@pytest.fixture
def instance(
    dagster_home: Path, storage_database: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DagsterInstance]:
    monkeypatch.setenv("DAGSTER_PG_URL", dagster_storage_url(storage_database))
    with DagsterInstance.get() as production:
        yield production


def test_the_file_holds_no_secret() -> None:
    config = yaml.safe_load(DAGSTER_YAML.read_text())
    assert config["storage"] == {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}}
    assert config["telemetry"] == {"enabled": False}


def test_a_missing_secret_is_named(dagster_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAGSTER_PG_URL", raising=False)
    with pytest.raises(Exception, match="DAGSTER_PG_URL"):
        DagsterInstance.get()


def test_runs_and_their_events_are_kept_in_postgresql(
    instance: DagsterInstance, storage_database: str
) -> None:
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    assert isinstance(instance.compute_log_manager, LocalComputeLogManager)
    assert not instance.telemetry_enabled

    result = hello.execute_in_process(instance=instance)
    assert result.success

    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert HELLO in messages
    # Read back from the database itself, not through Dagster's caches.
    with connection.connect(storage_database) as conn:
        (status,) = conn.execute(
            "select status from runs where run_id = %s", (result.run_id,)
        ).fetchone()
        (events,) = conn.execute(
            "select count(*) from event_logs where run_id = %s", (result.run_id,)
        ).fetchone()
    assert status == DagsterRunStatus.SUCCESS.value
    assert events == len(instance.all_logs(result.run_id))


# Queued runs name the code location they come from; the daemon does not contact it to decide.
HELLO_ORIGIN = RemoteJobOrigin(
    repository_origin=RemoteRepositoryOrigin(
        code_location_origin=GrpcServerCodeLocationOrigin(
            host="localhost", port=3030, location_name="flows"
        ),
        repository_name="__repository__",
    ),
    job_name="hello",
)


def _run(instance: DagsterInstance, status: DagsterRunStatus, tags: dict[str, str]) -> str:
    run = instance.create_run_for_job(
        hello, status=status, tags=tags, remote_job_origin=HELLO_ORIGIN
    )
    return run.run_id


def test_the_queue_lets_one_run_per_esco_bucket_and_build_through(
    instance: DagsterInstance,
) -> None:
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    queue = instance.get_concurrency_config().run_queue_config
    assert queue is not None
    assert queue.max_concurrent_runs == 10
    assert {
        "key": "flows/esco",
        "value": {"applyLimitPerUniqueValue": True},
        "limit": 1,
    } in queue.tag_concurrency_limits
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1

    started, queued = DagsterRunStatus.STARTED, DagsterRunStatus.QUEUED
    _run(instance, started, {"flows/esco": ESCO_A})
    _run(instance, started, {**SYNC_SCHEDULE})
    _run(instance, started, {"dagster/backfill": "first"})
    _run(instance, started, {"flows/bucket": "00-of-16"})
    _run(instance, started, {"flows/dbt": "build"})
    second_of_a = _run(instance, queued, {"flows/esco": ESCO_A})
    first_of_b = _run(instance, queued, {"flows/esco": ESCO_B})
    second_of_b = _run(instance, queued, {"flows/esco": ESCO_B})
    next_sync = _run(instance, queued, {**SYNC_SCHEDULE})
    other_backfill = _run(instance, queued, {"dagster/backfill": "second"})
    untagged = _run(instance, queued, {})
    # A bucket still syncing holds back its own next run, not the other buckets'.
    same_bucket = _run(instance, queued, {"flows/bucket": "00-of-16"})
    other_bucket = _run(instance, queued, {"flows/bucket": "01-of-16"})
    next_build = _run(instance, queued, {"flows/dbt": "build"})

    # The daemon's own choice of which queued runs to launch now, against this storage.
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=5)
    launched = {
        run.run_id
        for run in daemon._get_runs_to_dequeue(
            instance, instance.get_concurrency_config(), fixed_iteration_time=None
        )
    }

    assert launched == {first_of_b, untagged, other_bucket}
    held = {second_of_a, second_of_b, next_sync, other_backfill, same_bucket, next_build}
    assert held.isdisjoint(launched)


def test_no_more_than_max_concurrent_runs(instance: DagsterInstance) -> None:
    for esco in range(10):
        _run(instance, DagsterRunStatus.STARTED, {"flows/esco": f"esco-{esco}"})
    _run(instance, DagsterRunStatus.QUEUED, {"flows/esco": "esco-10"})

    daemon = QueuedRunCoordinatorDaemon(interval_seconds=5)
    assert daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None) == []


def test_skipped_sensor_ticks_are_kept_one_day(instance: DagsterInstance) -> None:
    retention = instance.get_tick_retention_settings(InstigatorType.SENSOR)
    assert retention == {
        TickStatus.SKIPPED: 1,
        TickStatus.SUCCESS: 30,
        TickStatus.FAILURE: 30,
        TickStatus.STARTED: 30,
    }
    assert set(instance.get_tick_retention_settings(InstigatorType.SCHEDULE).values()) == {90}

    # meter_alerts' cursor for 20,000 meters in a condition is about 430 KB.
    cursor = "x" * 430_000
    now = time.time()
    two_days_ago = now - timedelta(days=2).total_seconds()

    def tick(status: TickStatus, at: float) -> int:
        data = TickData(
            instigator_origin_id="flows-origin",
            instigator_name="meter_alerts",
            instigator_type=InstigatorType.SENSOR,
            status=status,
            timestamp=at,
            cursor=cursor,
            selector_id="meter_alerts-selector",
            error=(
                SerializableErrorInfo("webhook answered 503", stack=[], cls_name="Failure")
                if status == TickStatus.FAILURE
                else None
            ),
        )
        return instance.create_tick(data).tick_id

    old_skip = tick(TickStatus.SKIPPED, two_days_ago)
    new_skip = tick(TickStatus.SKIPPED, now)
    old_failure = tick(TickStatus.FAILURE, two_days_ago)

    # What the sensor daemon does after each tick with these settings.
    for status, days in retention.items():
        if days > 0:
            instance.purge_ticks(
                "flows-origin",
                "meter_alerts-selector",
                before=now - timedelta(days=days).total_seconds(),
                tick_statuses=[status],
            )

    kept = instance.get_ticks("flows-origin", "meter_alerts-selector")
    assert {t.tick_id for t in kept} == {new_skip, old_failure}
    assert old_skip not in {t.tick_id for t in kept}
    assert all(t.cursor == cursor for t in kept)
