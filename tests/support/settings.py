"""The settings tests run under: the environment's, read at the call (tests change it), and the
fleet sync's definitions for the default bucket count."""

from __future__ import annotations

from dagster import Definitions

from dagster_project.definitions import build_definitions
from dagster_project.defs.registry.source import RegistrySource
from dagster_project.defs.resources import WarehouseResource
from dagster_project.defs.sync.build import FleetSync, build_fleet_sync
from dagster_project.settings import Settings
from dagster_project.warehouse.embedded import EmbeddedServer

#: The sync as the code location builds it by default (FLOWS_SYNC_BUCKETS unset: 4 buckets).
SYNC: FleetSync = build_fleet_sync(Settings())


def current_settings() -> Settings:
    return Settings.from_environment()


def embedded_server() -> EmbeddedServer:
    """The embedded server of the state folder in force (FLOWS_STATE_DIR)."""
    return EmbeddedServer(current_settings().state_dir)


def code_location(settings: Settings | None = None) -> Definitions:
    """The Definitions Dagster loads, for these settings (default: the environment's)."""
    return build_definitions(settings or current_settings())


def registry_source() -> RegistrySource:
    """The registry asset's source as the code location builds it from the environment (the
    test session allows any removal: tests/conftest.py)."""
    return RegistrySource.from_settings(current_settings())


def warehouse() -> WarehouseResource:
    """The warehouse as the code location builds it: the session's database (FLOWS_DATABASE_URL,
    set by tests/support/database.py), else the embedded server of FLOWS_STATE_DIR."""
    return WarehouseResource.from_settings(current_settings())
