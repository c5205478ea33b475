"""Test-session setup shared by unit and integration tests.

Under pytest-xdist (`make test` runs `pytest -n`) each worker is a test session of its own, with
its own scratch databases (tests/integration/conftest.py) and its own dbt target folder; the
embedded PostgreSQL server is the one thing they share, so the controller starts and stops it.
"""

from __future__ import annotations

import os

import pytest

from dagster_project.settings import REGISTRY_MAX_REMOVED_SHARE
from tests.support.dbt_cli import TARGET_ENV, target_path
from tests.support.settings import current_settings, embedded_server

# Set in the controller when it started the embedded server, which it then stops at the end.
STARTED_EMBEDDED = pytest.StashKey[bool]()


def pytest_configure(config: pytest.Config) -> None:
    # The tests of one session share a database and each loads a fleet of its own, replacing
    # the last: on purpose, so the guard against a file removing much of the fleet is lifted.
    # The tests of that guard set their own share (tests/integration/test_registry_asset.py).
    os.environ[REGISTRY_MAX_REMOVED_SHARE] = "1"

    # `make test` prepares dbt's manifest; a bare `pytest` on a fresh checkout gets it here,
    # since importing the definitions needs it. Under xdist the controller configures before
    # it starts the workers, so they find the manifest there.
    from dagster_project.defs.dbt.project import flows_dbt_project

    if not flows_dbt_project.manifest_path.exists():
        flows_dbt_project.preparer.prepare(flows_dbt_project)

    # Two dbt runs at once in one target folder overwrite each other's manifest and artefacts.
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        os.environ[TARGET_ENV] = f"{target_path()}-{worker}"


def pytest_sessionstart(session: pytest.Session) -> None:
    # Only xdist's controller has the "dsession" plugin; its own pytest_sessionstart, which
    # starts the workers, runs after this one (trylast). A worker finding the server running
    # leaves it running, so no worker stops it under another's tests.
    config = session.config
    if not config.pluginmanager.has_plugin("dsession"):
        return
    if current_settings().database_url is not None:
        return
    config.stash[STARTED_EMBEDDED] = not embedded_server().status().running
    embedded_server().start()


def pytest_unconfigure(config: pytest.Config) -> None:
    # After every worker has finished, as a single session would at its end.
    if config.stash.get(STARTED_EMBEDDED, False):
        embedded_server().stop()
