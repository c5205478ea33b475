"""A fanned-out cycle through the real definitions: the schedule asks one sync run per bucket,
the cycle sensor waits until every bucket's run has finished, then asks for the one run that
builds the marts, which then hold every meter of every bucket."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from dagster import (
    DagsterInstance,
    JobDefinition,
    RunRequest,
    SensorResult,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
    materialize,
)

from dagster_project.defs.registry.assets import meter_registry_raw
from dagster_project.domain.fleet_buckets import parse_bucket_key
from dagster_project.simulator import FleetConfig
from tests.support.fleet_thread import FleetThread
from tests.support.settings import SYNC, code_location, registry_source, warehouse
from tests.support.simulated import QUICK_EMOP, write_fleet_registry

FANNED_OUT = "fleet_sync_fanned_out_every_15_minutes"

METERS = 12
TICK = datetime(2026, 11, 27, 10, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def fleet() -> Iterator[FleetThread]:
    with FleetThread(FleetConfig(meters=METERS, seed=41, freeze_model=True, port=0)) as fleet:
        yield fleet


@pytest.fixture(scope="module")
def run_config(fleet, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    registry = write_fleet_registry(
        fleet, tmp_path_factory.mktemp("fan_out") / "registry.csv", mode="active"
    )
    return {
        "ops": {"flows_raw__meter_registry": {"config": {"csv_path": str(registry)}}},
        "resources": {"emop": {"config": QUICK_EMOP.model_dump()}},
    }


def evaluate_sensor(instance: DagsterInstance, cursor: str | None) -> SensorResult | SkipReason:
    return SYNC.cycle_sensor(build_sensor_context(instance=instance, cursor=cursor))


def test_a_fanned_out_cycle_syncs_each_bucket_then_builds_once(
    run_config: dict[str, Any], db: psycopg.Connection
) -> None:
    requests = SYNC.schedule(FANNED_OUT)(build_schedule_context(scheduled_execution_time=TICK))
    assert len(requests) == len(SYNC.partitions.get_partition_keys())
    sync_job = code_location().resolve_job_def("fleet_sync")
    bucket_config = {"resources": run_config["resources"]}
    with DagsterInstance.ephemeral() as instance:
        # The registry is loaded by the previous cycle's transform; here, by a run of its own.
        registry = materialize(
            [meter_registry_raw],
            instance=instance,
            resources={"warehouse": warehouse(), "registry_source": registry_source()},
            run_config={"ops": run_config["ops"]},
        )
        assert registry.success
        transform = code_location().resolve_job_def("flows_transform")

        run_ids = []
        for request in requests[:-1]:
            run_ids.append(_run_bucket(sync_job, instance, request, bucket_config))
            still = evaluate_sensor(instance, cursor=None)
            assert isinstance(still, SkipReason), "built before every bucket had finished"

        run_ids.append(_run_bucket(sync_job, instance, requests[-1], bucket_config))
        ready = evaluate_sensor(instance, cursor=None)
        assert isinstance(ready, SensorResult)
        (build,) = ready.run_requests
        cycle = requests[0].tags["flows/cycle"]
        assert ready.cursor == cycle and build.tags["flows/cycle"] == cycle
        # Evaluated again with its cursor, the sensor asks for nothing more.
        assert isinstance(evaluate_sensor(instance, cursor=ready.cursor), SkipReason)

        built = transform.execute_in_process(
            instance=instance, run_config=run_config, tags=build.tags
        )
        assert built.success

    # Other tests of this session land syncs too: only the cycle's own runs count here.
    syncs = db.execute(
        "select bucket, run_id, meters_ok, meters_failed from flows_raw.meter_syncs "
        "where run_id = any(%s) order by bucket",
        (run_ids,),
    ).fetchall()
    assert [bucket for bucket, *_ in syncs] == [r.partition_key for r in requests]
    assert len({run_id for _, run_id, *_ in syncs}) == len(requests)  # a run per bucket
    assert sum(ok for *_, ok, _ in syncs) == METERS
    # Each meter landed in its own bucket's sync, and the marts hold all of them.
    misplaced = db.execute(
        "select snapshots.serial, syncs.bucket from flows_raw.meter_sync_snapshots as snapshots "
        "join flows_raw.meter_syncs as syncs using (sync_id) where syncs.run_id = any(%s)",
        (run_ids,),
    ).fetchall()
    assert len(misplaced) == METERS
    for serial, key in misplaced:
        (meter_id,) = db.execute(
            "select id from flows_raw.meter_registry where serial = %s", (serial,)
        ).fetchone()
        assert parse_bucket_key(key).holds(meter_id), serial
    (healthy,) = db.execute(
        "select count(*) from flows.meter_shadows where health = 'healthy'"
    ).fetchone()
    assert healthy == METERS


def _run_bucket(
    job: JobDefinition, instance: DagsterInstance, request: RunRequest, config: dict
) -> str:
    """Run one bucket's sync as the schedule asked; its run id."""
    result = job.execute_in_process(
        instance=instance,
        run_config=config,
        partition_key=request.partition_key,
        tags=request.tags,
    )
    assert result.success, request.partition_key
    return result.run_id
