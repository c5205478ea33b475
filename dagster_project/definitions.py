"""The one Definitions object of the code location, assembled from defs/."""

from dagster import Definitions

from dagster_project.defs.dbt import flows_dbt_models
from dagster_project.defs.jobs import flows_pipeline_job
from dagster_project.defs.registry import meter_registry_raw
from dagster_project.defs.resources import WarehouseResource, dbt_resource

defs = Definitions(
    assets=[meter_registry_raw, flows_dbt_models],
    jobs=[flows_pipeline_job],
    resources={"warehouse": WarehouseResource(), "dbt": dbt_resource()},
)
