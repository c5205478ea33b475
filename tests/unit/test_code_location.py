"""A snapshot of the whole code location: asset keys with their groups, partitions and
dependencies, checks, jobs, schedules and sensors. A refactor that changes any of them shows
as a diff of tests/unit/__snapshots__/test_code_location.ambr to review; when the change is
meant, `make snapshot` writes the new one."""

from __future__ import annotations

from typing import Any

from dagster import AssetKey, Definitions, PartitionsDefinition

from dagster_project.settings import Settings
from tests.support.settings import code_location as build_code_location


def _partitions(partitions_def: PartitionsDefinition | None) -> str | None:
    return None if partitions_def is None else str(partitions_def)


def _key(key: AssetKey) -> str:
    return key.to_user_string()


def code_location(definitions: Definitions) -> dict[str, Any]:
    """What the code location declares, as plain sorted data."""
    graph = definitions.resolve_asset_graph()
    checks: dict[str, list[str]] = {}
    for check in graph.asset_check_keys:
        checks.setdefault(_key(check.asset_key), []).append(check.name)
    assets = {
        _key(key): {
            "group": graph.get(key).group_name,
            "partitions": _partitions(graph.get(key).partitions_def),
            "deps": sorted(_key(parent) for parent in graph.get(key).parent_keys),
            "checks": sorted(checks.get(_key(key), [])),
            "executable": graph.get(key).is_executable,
        }
        for key in graph.get_all_asset_keys()
    }
    repository = definitions.get_repository_def()
    jobs = {
        job.name: {
            "assets": sorted(_key(k) for k in job.asset_layer.executable_asset_keys),
            "partitions": _partitions(job.partitions_def),
        }
        for job in repository.get_all_jobs()
        if not job.name.startswith("__")  # Dagster's implicit job of every asset
    }
    schedules = {
        schedule.name: {
            "cron": schedule.cron_schedule,
            "timezone": schedule.execution_timezone,
            "job": schedule.job_name,
            "default_status": schedule.default_status.value,
        }
        for schedule in repository.schedule_defs
    }
    sensors = {
        sensor.name: {
            "jobs": sorted(job.name for job in sensor.jobs) if sensor.has_jobs else [],
            "minimum_interval_seconds": sensor.minimum_interval_seconds,
            "default_status": sensor.default_status.value,
        }
        for sensor in repository.sensor_defs
    }
    return {
        "assets": dict(sorted(assets.items())),
        "jobs": dict(sorted(jobs.items())),
        "schedules": dict(sorted(schedules.items())),
        "sensors": dict(sorted(sensors.items())),
        "resources": sorted(repository.get_top_level_resources()),
    }


def test_the_code_location_is_as_reviewed(snapshot: Any) -> None:
    # The defaults: the snapshot must not depend on the machine's FLOWS_* settings.
    assert code_location(build_code_location(Settings())) == snapshot
