"""Scratch databases on the test server: created for a test's own state, always dropped."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from psycopg import sql

from dagster_project.warehouse import connection


@contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new empty database named `<prefix>_<random>` on the server; yields its URL."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    with connection.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield connection.with_database(server_url, name)
    finally:
        with connection.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
