"""Dagster resources: the warehouse database and the dbt CLI."""

from __future__ import annotations

import dataclasses
import sys
import typing
from pathlib import Path
from typing import Any

import psycopg
from dagster import Backoff, ConfigurableResource, EnvVar, Failure, Jitter, RetryPolicy
from dagster_dbt import DbtCliResource
from pydantic import Field, PrivateAttr, create_model

from dagster_project.defs.dbt.project import flows_dbt_project
from dagster_project.emop.client import ClientSettings
from dagster_project.settings import DATABASE_URL, DEFAULT_STATE_DIR, Settings
from dagster_project.warehouse import connection
from dagster_project.warehouse.connection import DatabaseTarget
from dagster_project.warehouse.connection_leases import PostgresConnectionSlots
from dagster_project.warehouse.embedded import EmbeddedServer


class WarehouseResource(ConfigurableResource):
    """The PostgreSQL database the pipeline writes to and dbt builds in."""

    database_url: str | None = Field(
        default=None,
        description=(
            "PostgreSQL URL; empty: the embedded server under state_dir. Set from "
            "FLOWS_DATABASE_URL as a reference to the variable, so that the password is neither "
            "shown in the UI nor stored with runs."
        ),
    )
    state_dir: str = Field(
        default=str(DEFAULT_STATE_DIR), description="Where the embedded server keeps its data."
    )
    _target: DatabaseTarget | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: Settings) -> WarehouseResource:
        url = EnvVar(DATABASE_URL) if settings.database_url is not None else None
        return cls(database_url=url, state_dir=str(settings.state_dir))

    def target(self) -> DatabaseTarget:
        if self._target is None:
            if self.database_url:
                url = connection.libpq_url(self.database_url)
                self._target = DatabaseTarget(url=url, embedded=False)
            else:
                self._target = DatabaseTarget(url=self.embedded_server().start(), embedded=True)
        return self._target

    def embedded_server(self) -> EmbeddedServer:
        return EmbeddedServer(Path(self.state_dir))

    def connect(self) -> psycopg.Connection:
        return connection.connect(self.target().url)


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
    gone = warehouse.embedded_server().stopped_note() if target.embedded else None
    if gone:
        description += f" ({gone})"
    return Failure(description=description, metadata={"database": where, "error": str(error)})


def settings_fields(settings_type: type, defaults: object | None = None) -> dict[str, Any]:
    """Pydantic fields for a resource, one per field of a settings dataclass of the layers
    below, with its type, its default (from `defaults`, else the dataclass's) and its `doc`: the
    resource carries the dataclass's settings instead of a copy of them."""
    hints = typing.get_type_hints(settings_type)
    fields = {}
    for item in dataclasses.fields(settings_type):
        default = getattr(defaults, item.name) if defaults is not None else item.default
        required = default is dataclasses.MISSING
        fields[item.name] = (
            hints[item.name],
            Field(... if required else default, description=item.metadata.get("doc")),
        )
    return fields


class _EmopSettingsBase(ConfigurableResource):
    max_connections_per_esco: int | None = Field(
        None,
        description=(
            "Simultaneous connections to one ESCO's meters, across every run that contacts "
            "meters, for ESCOs without a limit of their own (`flows connections limit`). "
            "Empty: only those ESCOs are capped."
        ),
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> EmopSettings:
        return EmopSettings(
            **dataclasses.asdict(settings.emop),
            max_connections_per_esco=settings.max_connections_per_esco,
        )

    def connection_slots(
        self, warehouse: WarehouseResource, run_id: str | None
    ) -> PostgresConnectionSlots:
        """The per-ESCO connection caps every run shares, leased from the warehouse."""
        return PostgresConnectionSlots(
            warehouse.target().url, default_limit=self.max_connections_per_esco, run_id=run_id
        )

    def client_settings(self) -> ClientSettings:
        return ClientSettings(
            **{item.name: getattr(self, item.name) for item in dataclasses.fields(ClientSettings)}
        )


#: How meters are polled: the client's settings (emop/client.py::ClientSettings), from
#: FLOWS_EMOP_<SETTING> in the environment (settings.py); launchpad config overrides them.
EmopSettings = create_model(
    "EmopSettings",
    __base__=_EmopSettingsBase,
    __module__=__name__,
    __doc__="How meters are polled: each setting of the EMOP client, and the per-ESCO cap.",
    **settings_fields(ClientSettings),
)


def dbt_resource() -> DbtCliResource:
    # The venv's own dbt, so nothing depends on the caller's PATH.
    dbt_executable = Path(sys.executable).with_name("dbt")
    return DbtCliResource(
        project_dir=flows_dbt_project,
        dbt_executable=str(dbt_executable) if dbt_executable.exists() else "dbt",
        # dbt's colour codes would land as escape sequences in the run log and in log files.
        global_config_flags=["--no-use-colors"],
    )
