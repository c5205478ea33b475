"""The code location's wiring: dbt tests as checks, groups by layer, schedules and sensors.
Its whole shape is snapshotted in test_code_location.py."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from dagster import build_schedule_context

from dagster_project import definitions
from dagster_project.defs.meter_logs.jobs import previous_utc_day
from dagster_project.domain.infrastructure import KINDS
from dagster_project.settings import Settings
from tests.support.settings import SYNC, code_location

#: The code location under the default settings.
defs = code_location(Settings())
fleet_sync_schedule = SYNC.schedule("fleet_sync_every_15_minutes")
fanned_out_sync_schedule = SYNC.schedule("fleet_sync_fanned_out_every_15_minutes")


def test_dbt_tests_become_checks_on_the_marts() -> None:
    graph = defs.resolve_asset_graph()
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert ("flows/meter_registry", "unique_meter_registry_serial") in checks
    assert ("flows/meter_registry", "unique_meter_registry_id") in checks
    assert (
        "flows/meter_registry",
        "accepted_values_meter_registry_mode__active__passive",
    ) in checks


def test_groups_follow_the_layers() -> None:
    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    layer_groups = {"flows_staging": "staging", "flows": "marts"}
    raw_groups = {
        "flows_raw/meter_registry": "registry",
        "flows_raw/meter_sync_snapshots": "sync",
        "flows_raw/profile_log_1": "logs",
        "flows_raw/profile_log_2": "logs",
        "flows_raw/profile_log_loads": "logs",
        "flows_raw/meter_event_log": "logs",
        "flows_raw/tariff_change_requests": "operator_input",
        "flows_raw/tariff_change_request_meters": "operator_input",
        "flows_raw/topup_tokens": "operator_input",
        "flows_raw/tariff_push_log": "write_path",
        "flows_raw/topup_log": "write_path",
        **{f"flows_raw/{kind.name}": "registry" for kind in KINDS},
        "flows_raw/infrastructure_rejects": "registry",
    }
    assert groups == {key: raw_groups.get(key) or layer_groups[key.split("/")[0]] for key in groups}


def test_pipeline_job_is_defined() -> None:
    job = defs.resolve_job_def("flows_pipeline")
    assert {"warehouse", "emop", "dbt"} <= set(job.resource_defs)


def test_schedules_run_by_default_at_their_times() -> None:
    schedules = {s.name: defs.resolve_schedule_def(s.name) for s in defs.schedules}
    sync = schedules["fleet_sync_every_15_minutes"]
    logs = schedules["daily_logs_at_0130_uk"]
    assert (sync.cron_schedule, sync.job_name) == ("*/15 * * * *", "flows_pipeline")
    assert (logs.cron_schedule, logs.execution_timezone, logs.job_name) == (
        "30 1 * * *",
        "Europe/London",
        "daily_logs",
    )
    # One machine: the whole pipeline in one run is on, the fanned-out sync off.
    on = {name for name, s in schedules.items() if s.default_status.value == "RUNNING"}
    assert on == set(schedules) - {"fleet_sync_fanned_out_every_15_minutes"}


SCHEDULED = datetime(2026, 11, 27, 10, 15, tzinfo=UTC)


def test_the_whole_pipeline_schedule_reads_every_bucket_in_one_run() -> None:
    request = fleet_sync_schedule(build_schedule_context(scheduled_execution_time=SCHEDULED))
    assert request.tags["dagster/asset_partition_range_start"] == "00-of-04"
    assert request.tags["dagster/asset_partition_range_end"] == "03-of-04"


def test_the_fanned_out_schedule_asks_one_run_per_bucket_of_one_cycle() -> None:
    requests = fanned_out_sync_schedule(build_schedule_context(scheduled_execution_time=SCHEDULED))
    assert [r.partition_key for r in requests] == ["00-of-04", "01-of-04", "02-of-04", "03-of-04"]
    assert {r.tags["flows/cycle"] for r in requests} == {"2026-11-27T10:15:00+00:00"}
    assert [r.tags["flows/bucket"] for r in requests] == [r.partition_key for r in requests]
    assert len({r.run_key for r in requests}) == 4


def test_the_environment_sets_the_split_and_which_sync_schedule_is_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Read when Dagster loads the code location, not when the module is imported.
    monkeypatch.setenv("FLOWS_SYNC_BUCKETS", "16")
    monkeypatch.setenv("FLOWS_SYNC_FAN_OUT", "yes")
    loaded = definitions.defs()
    assert (
        loaded.resolve_job_def("fleet_sync").partitions_def.get_partition_keys()[-1] == "15-of-16"
    )
    assert [
        loaded.resolve_schedule_def(name).default_status.value
        for name in ("fleet_sync_every_15_minutes", "fleet_sync_fanned_out_every_15_minutes")
    ] == ["STOPPED", "RUNNING"]


@pytest.mark.parametrize(
    ("scheduled", "partition"),
    [
        # 01:30 BST is 00:30 UTC; 01:30 GMT is 01:30 UTC: yesterday's UTC day either way.
        (datetime(2026, 7, 1, 1, 30, tzinfo=ZoneInfo("Europe/London")), "2026-06-30"),
        (datetime(2026, 12, 1, 1, 30, tzinfo=ZoneInfo("Europe/London")), "2026-11-30"),
        # The DST change nights.
        (datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/London")), "2026-03-28"),
        (datetime(2026, 10, 25, 1, 30, tzinfo=ZoneInfo("Europe/London")), "2026-10-24"),
    ],
)
def test_daily_logs_fetch_the_previous_utc_day(scheduled: datetime, partition: str) -> None:
    assert previous_utc_day(scheduled) == partition


FLEET = {
    "clock_drift",
    "csq_drops",
    "fleet_outage",
    "balance_anomalies",
    "registry_meter_disagreements",
    "identity_mismatches",
}


def test_fleet_checks_sit_on_the_assets_they_judge() -> None:
    graph = defs.resolve_asset_graph()
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert {
        ("flows/meter_shadows", "clock_drift"),
        ("flows/meter_csq", "csq_drops"),
        ("flows_raw/meter_sync_snapshots", "fleet_outage"),
        ("flows/meter_prepay_balance", "balance_anomalies"),
        ("flows/meter_registry", "registry_meter_disagreements"),
        ("flows_raw/meter_sync_snapshots", "identity_mismatches"),
        ("flows_raw/meter_sync_snapshots", "raw_snapshots_structure"),
        ("flows_raw/meter_sync_snapshots", "raw_snapshots_plausible"),
    } <= checks
    ours = {name for _, name in checks if name.startswith("raw_snapshots") or name in FLEET}
    blocking = {c.name for c in graph.asset_check_keys if graph.get_check_spec(c).blocking}
    assert blocking & ours == {"raw_snapshots_structure"}


def test_the_sync_and_every_mart_report_stale_after_two_cycles() -> None:
    graph = defs.resolve_asset_graph()
    stale = {c.asset_key.to_user_string() for c in graph.asset_check_keys if "freshness" in c.name}
    keys = (key.to_user_string() for key in graph.get_all_asset_keys())
    marts = {key for key in keys if key.startswith("flows/")}
    assert {"flows_raw/meter_sync_snapshots", *marts} <= stale
    sensor = defs.resolve_sensor_def("freshness_checks")
    assert sensor.default_status.value == "RUNNING"


def test_meter_alerts_and_the_cycle_sensor_run_by_default() -> None:
    assert defs.resolve_sensor_def("meter_alerts").default_status.value == "RUNNING"
    cycle = defs.resolve_sensor_def("transform_after_fanned_out_sync")
    assert cycle.default_status.value == "RUNNING"
    assert cycle.job_name == "flows_transform"


def test_fanned_out_jobs_split_the_pipeline_at_the_sync() -> None:
    sync = defs.resolve_job_def("fleet_sync").asset_layer.selected_asset_keys
    rest = defs.resolve_job_def("flows_transform").asset_layer.selected_asset_keys
    whole = defs.resolve_job_def("flows_pipeline").asset_layer.selected_asset_keys
    assert {key.to_user_string() for key in sync} == {"flows_raw/meter_sync_snapshots"}
    assert sync | rest == whole and not sync & rest
    # dbt builds carry the tag deploy/dagster.yaml lets one run at a time through.
    for name in ("flows_pipeline", "flows_transform"):
        assert defs.resolve_job_def(name).tags["flows/dbt"] == "build"
