"""Which PostgreSQL the project talks to, and the connection forms each tool needs.

`FLOWS_DATABASE_URL` (an ordinary PostgreSQL URL) points everything at an existing server.
Without it the embedded server under the state folder is started on demand.
"""

from __future__ import annotations

import getpass
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from dagster_project.warehouse import embedded

DATABASE_URL_ENV = "FLOWS_DATABASE_URL"


@dataclass(frozen=True)
class DatabaseTarget:
    """A resolved database: its URL, and whether it is the embedded server."""

    url: str
    embedded: bool

    @property
    def display_url(self) -> str:
        return redact_url(self.url)


def configured_url() -> str | None:
    """The URL from the environment, or None when the embedded server should be used."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    return url or None


def resolve_database() -> DatabaseTarget:
    """The database to use, starting the embedded server if no URL is configured."""
    url = configured_url()
    if url is not None:
        return DatabaseTarget(url=libpq_url(url), embedded=False)
    return DatabaseTarget(url=embedded.start(), embedded=True)


@contextmanager
def use_database(purpose: str) -> Iterator[tuple[DatabaseTarget, embedded.Lease | None]]:
    """The database to use for the block, and the lease held on the embedded server when it is
    the one (see embedded.in_use): the server a command started is stopped by its last user."""
    url = configured_url()
    if url is not None:
        yield DatabaseTarget(url=libpq_url(url), embedded=False), None
        return
    with embedded.in_use(purpose) as lease:
        yield DatabaseTarget(url=lease.url, embedded=True), lease


def libpq_url(url: str) -> str:
    """Drop a SQLAlchemy driver suffix (`postgresql+psycopg2://`) so libpq accepts the URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise ValueError(
            f"{DATABASE_URL_ENV} must be a postgresql:// URL, got scheme {parts.scheme!r}"
        )
    return urlunsplit(parts._replace(scheme=scheme))


def sqlalchemy_url(url: str) -> str:
    """The same database as a SQLAlchemy URL on psycopg 3."""
    parts = urlsplit(libpq_url(url))
    return urlunsplit(parts._replace(scheme="postgresql+psycopg"))


def redact_url(url: str) -> str:
    """The URL with its password replaced, safe to print and log."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostinfo}"))


def with_database(url: str, database: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def dbt_profile_env(url: str) -> dict[str, str]:
    """Environment variables read by dbt/profiles.yml for this database.

    The password goes in a `DBT_ENV_SECRET_` variable, which dbt scrubs from its logs.
    """
    params = conninfo_to_dict(libpq_url(url))
    return {
        "FLOWS_DB_HOST": str(params.get("host") or "localhost"),
        "FLOWS_DB_PORT": str(params.get("port") or "5432"),
        "FLOWS_DB_USER": str(params.get("user") or getpass.getuser()),
        "DBT_ENV_SECRET_FLOWS_DB_PASSWORD": str(params.get("password") or ""),
        "FLOWS_DB_NAME": str(params.get("dbname") or params.get("user") or getpass.getuser()),
        "FLOWS_DB_SSLMODE": str(params.get("sslmode") or "prefer"),
    }


def connect(url: str, **kwargs: object) -> psycopg.Connection:
    """A psycopg 3 connection; the application name shows who is connected in pg_stat_activity."""
    return psycopg.connect(libpq_url(url), application_name="flows", **kwargs)


@contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new empty database `<prefix>_<random>` on the server, for tests and benchmarks; yields
    its URL and drops it afterwards, even on error."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    with connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield with_database(server_url, name)
    finally:
        with connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
