"""The dbt models as assets, and the dbt project as Dagster sees it."""
