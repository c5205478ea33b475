"""Which PostgreSQL the project talks to, and the connection forms each tool needs.

The settings' database URL (FLOWS_DATABASE_URL) points everything at an existing server.
Without it the embedded server under the state folder is started on demand.
"""

from __future__ import annotations

import getpass
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import yaml
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from dagster_project.paths import DBT_PROJECT_DIR
from dagster_project.settings import Settings
from dagster_project.warehouse import embedded
from dagster_project.warehouse.embedded import EmbeddedServer


@dataclass(frozen=True)
class DatabaseTarget:
    """A resolved database: its URL, and whether it is the embedded server."""

    url: str
    embedded: bool

    @property
    def display_url(self) -> str:
        return redact_url(self.url)


def resolve_database(settings: Settings) -> DatabaseTarget:
    """The database to use, starting the embedded server if no URL is configured."""
    if settings.database_url is not None:
        return DatabaseTarget(url=libpq_url(settings.database_url), embedded=False)
    return DatabaseTarget(url=EmbeddedServer(settings.state_dir).start(), embedded=True)


@contextmanager
def use_database(
    settings: Settings, purpose: str
) -> Iterator[tuple[DatabaseTarget, embedded.Lease | None]]:
    """The database to use for the block, and the lease held on the embedded server when it is
    the one (see EmbeddedServer.in_use): the server a command started is stopped by its last
    user."""
    if settings.database_url is not None:
        yield DatabaseTarget(url=libpq_url(settings.database_url), embedded=False), None
        return
    with EmbeddedServer(settings.state_dir).in_use(purpose) as lease:
        yield DatabaseTarget(url=lease.url, embedded=True), lease


def libpq_url(url: str) -> str:
    """Drop a SQLAlchemy driver suffix (`postgresql+psycopg2://`) so libpq accepts the URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise ValueError(
            f"the database URL must be a postgresql:// URL, got scheme {parts.scheme!r}"
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


@contextmanager
def dbt_profiles_dir(url: str) -> Iterator[Path]:
    """A private folder (mode 0700, removed after the block) holding the project's dbt profile
    (dbt/profiles.yml) with this database's connection filled in, for a dbt run that is told
    the database rather than reading it from the environment."""
    profiles = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())
    params = dbt_profile_env(url)
    for profile in profiles.values():
        for output in profile["outputs"].values():
            output.update(
                host=params["FLOWS_DB_HOST"],
                port=int(params["FLOWS_DB_PORT"]),
                user=params["FLOWS_DB_USER"],
                password=params["DBT_ENV_SECRET_FLOWS_DB_PASSWORD"],
                dbname=params["FLOWS_DB_NAME"],
                sslmode=params["FLOWS_DB_SSLMODE"],
            )
    with tempfile.TemporaryDirectory(prefix="flows-dbt-profile-") as folder:
        path = Path(folder) / "profiles.yml"
        path.touch(mode=0o600)
        path.write_text(yaml.safe_dump(profiles))
        yield Path(folder)


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
