"""Jobs: the whole pipeline as one job, for `flows run` and the UI."""

from dagster import AssetSelection, define_asset_job

flows_pipeline_job = define_asset_job(
    name="flows_pipeline",
    selection=AssetSelection.all(),
    description="Load the registry, then build and test every dbt model.",
)
