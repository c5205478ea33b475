"""A fresh PostgreSQL database for each test session.

The server is FLOWS_DATABASE_URL's when that is set, else the embedded one under .flows/ (started
if needed and stopped again afterwards). Every integration test then sees FLOWS_DATABASE_URL
pointing at the session's own database, exactly as a user's environment would.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from psycopg import sql

from dagster_project.warehouse import connection, embedded


@pytest.fixture(scope="session", autouse=True)
def database_url() -> Iterator[str]:
    server_url = connection.configured_url()
    started_embedded = False
    if server_url is None:
        started_embedded = not embedded.status().running
        server_url = embedded.start()

    name = f"flows_test_{secrets.token_hex(4)}"
    with connection.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    test_url = connection.with_database(server_url, name)
    previous = os.environ.get(connection.DATABASE_URL_ENV)
    os.environ[connection.DATABASE_URL_ENV] = test_url
    try:
        yield test_url
    finally:
        if previous is None:
            os.environ.pop(connection.DATABASE_URL_ENV, None)
        else:
            os.environ[connection.DATABASE_URL_ENV] = previous
        with connection.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
        if started_embedded:
            embedded.stop()


@pytest.fixture
def db(database_url: str) -> Iterator:
    with connection.connect(database_url, autocommit=True) as conn:
        yield conn
