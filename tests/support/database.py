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

from dagster_project.warehouse import connection, embedded
from dagster_project.warehouse.connection import scratch_database


@pytest.fixture(scope="session", autouse=True)
def database_url() -> Iterator[str]:
    """The session's own scratch database, also set as FLOWS_DATABASE_URL while tests run."""
    server_url = connection.configured_url()
    started_embedded = False
    if server_url is None:
        started_embedded = not embedded.status().running
        server_url = embedded.start()

    previous = os.environ.get(connection.DATABASE_URL_ENV)
    try:
        with scratch_database(server_url, "flows_test") as test_url:
            os.environ[connection.DATABASE_URL_ENV] = test_url
            try:
                yield test_url
            finally:
                if previous is None:
                    os.environ.pop(connection.DATABASE_URL_ENV, None)
                else:
                    os.environ[connection.DATABASE_URL_ENV] = previous
    finally:
        if started_embedded:
            embedded.stop()


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the session's database."""
    with connection.connect(database_url, autocommit=True) as conn:
        yield conn
