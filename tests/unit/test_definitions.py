"""A snapshot of the asset graph, so a refactor cannot silently change lineage."""

from __future__ import annotations

from dagster_project.definitions import defs

EXPECTED_LINEAGE = {
    "flows_raw/meter_registry": [],
    "flows_staging/stg_flows_raw__meter_registry": ["flows_raw/meter_registry"],
    "flows/meter_registry": ["flows_staging/stg_flows_raw__meter_registry"],
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
    assert groups == {
        "flows_raw/meter_registry": "registry",
        "flows_staging/stg_flows_raw__meter_registry": "staging",
        "flows/meter_registry": "marts",
    }


def test_pipeline_job_is_defined() -> None:
    job = defs.resolve_job_def("flows_pipeline")
    assert "warehouse" in job.resource_defs and "dbt" in job.resource_defs
