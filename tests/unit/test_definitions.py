"""A snapshot of the asset graph, so a refactor cannot silently change lineage."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from dagster_project.definitions import defs
from dagster_project.defs.schedules import previous_utc_day

EXPECTED_LINEAGE = {
    "flows_raw/meter_registry": [],
    "flows_raw/meter_sync_snapshots": ["flows_raw/meter_registry"],
    "flows_raw/profile_log_1": ["flows_raw/meter_registry"],
    "flows_raw/meter_event_log": ["flows_raw/meter_registry"],
    "flows_staging/stg_flows_raw__meter_registry": ["flows_raw/meter_registry"],
    "flows/meter_registry": ["flows_staging/stg_flows_raw__meter_registry"],
    "flows_staging/stg_flows_raw__meter_sync_snapshots": ["flows_raw/meter_sync_snapshots"],
    "flows/meter_shadows": [
        "flows/meter_registry",
        "flows_staging/stg_flows_raw__meter_sync_snapshots",
    ],
    "flows/meter_prepay_balance": ["flows_staging/stg_flows_raw__meter_sync_snapshots"],
    "flows/meter_csq": ["flows_staging/stg_flows_raw__meter_sync_snapshots"],
    "flows/meter_voltage": ["flows_staging/stg_flows_raw__meter_sync_snapshots"],
    "flows/meter_health_history": ["flows_staging/stg_flows_raw__meter_sync_snapshots"],
    "flows/meter_registers": [
        "flows_staging/stg_flows_raw__meter_registry",
        "flows_staging/stg_flows_raw__meter_sync_snapshots",
    ],
    "flows/daily_balance_summary": [
        "flows/meter_prepay_balance",
        "flows_staging/stg_flows_raw__meter_sync_snapshots",
    ],
    "flows/meter_shadows_tariffs": [
        "flows/meter_registry",
        "flows/meter_shadows",
        "flows/tariff_changes",
    ],
    "flows/meters_low_balance": ["flows/meter_registry", "flows/meter_shadows"],
    "flows/meters_offline_all": ["flows/meter_registry", "flows/meter_shadows"],
    "flows/meters_offline_recently": ["flows/meters_offline_all"],
    "flows/meters_clock_drift": ["flows/meter_registry", "flows/meter_shadows"],
    # The write path's raw tables, as the dbt sources of the tariff and top-up models.
    "flows_raw/tariff_change_requests": [],
    "flows_raw/tariff_change_request_meters": [],
    "flows_raw/tariff_push_log": [
        "flows_raw/meter_sync_snapshots",
        "flows_raw/tariff_change_request_meters",
        "flows_raw/tariff_change_requests",
    ],
    "flows_raw/topup_tokens": [],
    "flows_raw/topup_log": ["flows_raw/meter_sync_snapshots", "flows_raw/topup_tokens"],
    "flows_staging/stg_flows_raw__tariff_change_requests": ["flows_raw/tariff_change_requests"],
    "flows_staging/stg_flows_raw__tariff_change_request_meters": [
        "flows_raw/tariff_change_request_meters"
    ],
    "flows_staging/stg_flows_raw__tariff_push_log": ["flows_raw/tariff_push_log"],
    "flows_staging/stg_flows_raw__topup_tokens": ["flows_raw/topup_tokens"],
    "flows_staging/stg_flows_raw__topup_log": ["flows_raw/topup_log"],
    "flows/tariff_changes": [
        "flows/meter_registry",
        "flows_staging/stg_flows_raw__meter_sync_snapshots",
        "flows_staging/stg_flows_raw__tariff_change_request_meters",
        "flows_staging/stg_flows_raw__tariff_change_requests",
        "flows_staging/stg_flows_raw__tariff_push_log",
    ],
    "flows/topups": [
        "flows_staging/stg_flows_raw__topup_log",
        "flows_staging/stg_flows_raw__topup_tokens",
    ],
}


def test_asset_graph_lineage() -> None:
    graph = defs.resolve_asset_graph()
    lineage = {
        key.to_user_string(): sorted(
            parent.to_user_string() for parent in graph.get(key).parent_keys
        )
        for key in graph.get_all_asset_keys()
    }
    assert lineage == EXPECTED_LINEAGE


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
        "flows_raw/meter_event_log": "logs",
        "flows_raw/tariff_change_requests": "operator_input",
        "flows_raw/tariff_change_request_meters": "operator_input",
        "flows_raw/topup_tokens": "operator_input",
        "flows_raw/tariff_push_log": "write_path",
        "flows_raw/topup_log": "write_path",
    }
    assert groups == {
        key: raw_groups.get(key) or layer_groups[key.split("/")[0]] for key in EXPECTED_LINEAGE
    }


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
    assert all(s.default_status.value == "RUNNING" for s in schedules.values())


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


FLEET = {"clock_drift", "csq_drops", "fleet_outage", "balance_anomalies"}


def test_fleet_checks_sit_on_the_assets_they_judge() -> None:
    graph = defs.resolve_asset_graph()
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert {
        ("flows/meter_shadows", "clock_drift"),
        ("flows/meter_csq", "csq_drops"),
        ("flows_raw/meter_sync_snapshots", "fleet_outage"),
        ("flows/meter_prepay_balance", "balance_anomalies"),
        ("flows_raw/meter_sync_snapshots", "raw_snapshots_structure"),
        ("flows_raw/meter_sync_snapshots", "raw_snapshots_plausible"),
    } <= checks
    ours = {name for _, name in checks if name.startswith("raw_snapshots") or name in FLEET}
    blocking = {c.name for c in graph.asset_check_keys if graph.get_check_spec(c).blocking}
    assert blocking & ours == {"raw_snapshots_structure"}


def test_the_sync_and_every_mart_report_stale_after_two_cycles() -> None:
    graph = defs.resolve_asset_graph()
    stale = {c.asset_key.to_user_string() for c in graph.asset_check_keys if "freshness" in c.name}
    marts = {key for key in EXPECTED_LINEAGE if key.startswith("flows/")}
    assert {"flows_raw/meter_sync_snapshots", *marts} <= stale
    sensor = defs.resolve_sensor_def("freshness_checks")
    assert sensor.default_status.value == "RUNNING"


def test_meter_alerts_run_by_default() -> None:
    assert defs.resolve_sensor_def("meter_alerts").default_status.value == "RUNNING"
