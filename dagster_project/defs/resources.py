"""Dagster resources: the warehouse database and the dbt CLI."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import psycopg
from dagster import Backoff, ConfigurableResource, Failure, Jitter, RetryPolicy
from dagster_dbt import DbtCliResource
from pydantic import Field, PrivateAttr, model_validator

from dagster_project.defs.dbt.project import flows_dbt_project
from dagster_project.emop.client import ClientSettings
from dagster_project.warehouse import connection, embedded
from dagster_project.warehouse.connection import DatabaseTarget
from dagster_project.warehouse.connection_leases import PostgresConnectionSlots


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


# A database that went away is worth another go; meters and files are never the reason for one.
DATABASE_RETRY = RetryPolicy(
    max_retries=2, delay=5, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)


def database_failure(warehouse: WarehouseResource, doing: str, error: Exception) -> Failure:
    """A Failure that names the database (password masked) and what was being done."""
    target = warehouse.target()
    where = target.display_url
    description = f"could not {doing} the database {where}: {error}".strip()
    # A lost socket says nothing of why; the embedded server's state does.
    gone = embedded.stopped_note() if target.embedded else None
    if gone:
        description += f" ({gone})"
    return Failure(description=description, metadata={"database": where, "error": str(error)})


#: `FLOWS_EMOP_<SETTING>` (e.g. FLOWS_EMOP_MIN_GAP_SECONDS=0.2) replaces a setting's default.
EMOP_ENV_PREFIX = "FLOWS_EMOP_"


class EmopSettings(ConfigurableResource):
    """How meters are polled. The defaults suit real meters on a cellular network; each can be
    changed in the environment with FLOWS_EMOP_<SETTING> (`flows dev` does so for a simulated
    fleet), and launchpad config overrides both."""

    timeout_seconds: float = Field(10.0, description="Limit for one exchange with a meter.")
    attempts: int = Field(3, description="Tries per request, the first included.")
    backoff_base_seconds: float = Field(1.0, description="First wait before a retry.")
    backoff_max_seconds: float = Field(8.0, description="Longest wait before a retry.")
    min_gap_seconds: float = Field(
        2.0, description="Gap between requests to the same meter (real meters need 2 s)."
    )
    max_concurrent_meters: int = Field(500, description="Meters read at the same time.")
    reuse_connections: bool = Field(
        False, description="One TCP connection per meter read instead of one per request."
    )
    max_consecutive_naks: int = Field(
        6,
        description=(
            "NAKs in a row (bad frame, length or address) after which a meter is given up "
            "for this read, with the NAK code named."
        ),
    )
    max_connections_per_esco: int | None = Field(
        None,
        description=(
            "Simultaneous connections to one ESCO's meters, across every run that contacts "
            "meters, for ESCOs without a limit of their own (`flows connections limit`). "
            "Empty: only those ESCOs are capped."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _defaults_from_environment(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        from_env = {
            name: os.environ[EMOP_ENV_PREFIX + name.upper()]
            for name in cls.model_fields
            if EMOP_ENV_PREFIX + name.upper() in os.environ
        }
        return {**from_env, **data}

    def connection_slots(
        self, warehouse: WarehouseResource, run_id: str | None
    ) -> PostgresConnectionSlots:
        """The per-ESCO connection caps every run shares, leased from the warehouse."""
        return PostgresConnectionSlots(
            warehouse.target().url, default_limit=self.max_connections_per_esco, run_id=run_id
        )

    def client_settings(self) -> ClientSettings:
        return ClientSettings(
            timeout_seconds=self.timeout_seconds,
            attempts=self.attempts,
            backoff_base_seconds=self.backoff_base_seconds,
            backoff_max_seconds=self.backoff_max_seconds,
            min_gap_seconds=self.min_gap_seconds,
            max_concurrent_meters=self.max_concurrent_meters,
            reuse_connections=self.reuse_connections,
            max_consecutive_naks=self.max_consecutive_naks,
        )


def dbt_resource() -> DbtCliResource:
    # The venv's own dbt, so nothing depends on the caller's PATH.
    dbt_executable = Path(sys.executable).with_name("dbt")
    return DbtCliResource(
        project_dir=flows_dbt_project,
        dbt_executable=str(dbt_executable) if dbt_executable.exists() else "dbt",
    )
