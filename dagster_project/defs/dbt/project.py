"""The dbt project as Dagster sees it, in its own module for `dagster-dbt project prepare`."""

from dagster_dbt import DbtProject

from dagster_project.paths import DBT_PROJECT_DIR

flows_dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
flows_dbt_project.prepare_if_dev()
