"""The dbt models as Dagster assets, keyed by the schema they land in."""

from collections.abc import Iterator, Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from dagster_project.defs.dbt.project import flows_dbt_project
from dagster_project.defs.resources import WarehouseResource
from dagster_project.warehouse import connection

#: Runs that build the dbt models carry this tag, so that deploy/dagster.yaml lets one at a time
#: through: two dbt builds at once would replace the same tables under each other.
DBT_BUILD_TAGS = {"flows/dbt": "build"}


class FlowsDbtTranslator(DagsterDbtTranslator):
    """Models are keyed [schema, name] (flows/meter_registry), sources [source, table]."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "model":
            return AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "model":
            return "staging" if dbt_resource_props["schema"] == "flows_staging" else "marts"
        return super().get_group_name(dbt_resource_props)


# dbt's unit tests check the SQL against fixtures: they belong to development and CI
# (tests/integration/test_marts.py), not to every production build.
# The tests of the sources restate the flows_raw tables' own constraints (primary keys, unique
# serials, checks on outcomes: warehouse/raw_tables.py), so they cannot fail in production; the
# tables are not dbt's, so Dagster could only log them as observations, with a warning each.
# They run in CI (tests/integration/test_marts.py).
PRODUCTION_DBT_BUILD_EXCLUDES = ("--exclude-resource-type", "unit_test", "--exclude", "source:*")


@dbt_assets(manifest=flows_dbt_project.manifest_path, dagster_dbt_translator=FlowsDbtTranslator())
def flows_dbt_models(
    context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    # dbt is told the warehouse's database through a profile of its own for this build, so
    # that the process environment stays as it was (dbt/profiles.yml reads it otherwise).
    with connection.dbt_profiles_dir(warehouse.target().url) as profiles_dir:
        told = dbt.model_copy(update={"profiles_dir": str(profiles_dir)})
        yield from told.cli(["build", *PRODUCTION_DBT_BUILD_EXCLUDES], context=context).stream()
