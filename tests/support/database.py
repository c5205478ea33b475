"""The database fixtures of the integration and browser tests: a fresh PostgreSQL database for
each test session, and a connection to it.

The server is FLOWS_DATABASE_URL's when that is set, else the embedded one under .flows/ (started
if needed and stopped again afterwards). Every integration test then sees FLOWS_DATABASE_URL
pointing at the session's own database, exactly as a user's environment would.

The conftests that want them import them (a fixture is found where its conftest names it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest

from dagster_project.settings import DATABASE_URL
from dagster_project.warehouse import connection
from dagster_project.warehouse.connection import scratch_database
from tests.support.settings import current_settings, embedded_server


@pytest.fixture(scope="session", autouse=True)
def database_url() -> Iterator[str]:
    """The session's own scratch database, also set as FLOWS_DATABASE_URL while tests run."""
    server_url = current_settings().database_url
    server = embedded_server()
    started_embedded = False
    if server_url is None:
        started_embedded = not server.status().running
        server_url = server.start()

    previous = os.environ.get(DATABASE_URL)
    try:
        with scratch_database(server_url, "flows_test") as test_url:
            os.environ[DATABASE_URL] = test_url
            try:
                yield test_url
            finally:
                if previous is None:
                    os.environ.pop(DATABASE_URL, None)
                else:
                    os.environ[DATABASE_URL] = previous
    finally:
        if started_embedded:
            server.stop()


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the session's database."""
    with connection.connect(database_url, autocommit=True) as conn:
        yield conn
