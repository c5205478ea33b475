"""Dagster resources: the warehouse database and the dbt CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg
from dagster import ConfigurableResource
from dagster_dbt import DbtCliResource
from pydantic import Field, PrivateAttr

from dagster_project.dbt_project import flows_dbt_project
from dagster_project.warehouse import connection
from dagster_project.warehouse.connection import DatabaseTarget


class WarehouseResource(ConfigurableResource):
    """The PostgreSQL database the pipeline writes to and dbt builds in."""

    database_url: str | None = Field(
        default=None,
        description=(
            "PostgreSQL URL. Leave empty to use FLOWS_DATABASE_URL from the environment, "
            "or the embedded server under .flows/ when that is unset. Prefer the environment: "
            "launchpad config is stored with the run."
        ),
    )
    _target: DatabaseTarget | None = PrivateAttr(default=None)

    def target(self) -> DatabaseTarget:
        if self._target is None:
            if self.database_url:
                url = connection.libpq_url(self.database_url)
                self._target = DatabaseTarget(url=url, embedded=False)
            else:
                self._target = connection.resolve_database()
        return self._target

    def connect(self) -> psycopg.Connection:
        return connection.connect(self.target().url)

    def dbt_profile_env(self) -> dict[str, str]:
        return connection.dbt_profile_env(self.target().url)


def dbt_resource() -> DbtCliResource:
    # The venv's own dbt, so nothing depends on the caller's PATH.
    dbt_executable = Path(sys.executable).with_name("dbt")
    return DbtCliResource(
        project_dir=flows_dbt_project,
        dbt_executable=str(dbt_executable) if dbt_executable.exists() else "dbt",
    )
