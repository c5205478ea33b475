"""Database URL handling, without a database."""

from __future__ import annotations

import pytest

from dagster_project.warehouse.connection import (
    dbt_profile_env,
    libpq_url,
    redact_url,
    sqlalchemy_url,
    with_database,
)

SOCKET_URL = "postgresql://postgres:@/flows?host=/srv/flows/.flows/pgdata"
TCP_URL = "postgresql://flows_app:s3cret@db.example.org:6432/meters?sslmode=require"


def test_redact_hides_the_password_only() -> None:
    assert redact_url(TCP_URL) == (
        "postgresql://flows_app:***@db.example.org:6432/meters?sslmode=require"
    )
    assert "s3cret" not in redact_url(TCP_URL)
    assert redact_url(SOCKET_URL) == SOCKET_URL


def test_with_database_keeps_server_and_options() -> None:
    assert with_database(SOCKET_URL, "flows_test_1") == (
        "postgresql://postgres:@/flows_test_1?host=/srv/flows/.flows/pgdata"
    )
    assert with_database(TCP_URL, "other").endswith("@db.example.org:6432/other?sslmode=require")


def test_driver_suffixes_are_normalised() -> None:
    assert libpq_url("postgresql+psycopg2://u@h/d") == "postgresql://u@h/d"
    assert sqlalchemy_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"


def test_non_postgres_url_is_refused_with_the_scheme_named() -> None:
    with pytest.raises(ValueError, match=r"database URL must be a postgresql:// URL.*mysql"):
        libpq_url("mysql://u@h/d")


def test_dbt_env_for_a_tcp_server() -> None:
    assert dbt_profile_env(TCP_URL) == {
        "FLOWS_DB_HOST": "db.example.org",
        "FLOWS_DB_PORT": "6432",
        "FLOWS_DB_USER": "flows_app",
        "DBT_ENV_SECRET_FLOWS_DB_PASSWORD": "s3cret",
        "FLOWS_DB_NAME": "meters",
        "FLOWS_DB_SSLMODE": "require",
    }


def test_dbt_env_for_a_unix_socket() -> None:
    env = dbt_profile_env(SOCKET_URL)
    assert env["FLOWS_DB_HOST"] == "/srv/flows/.flows/pgdata"
    assert env["FLOWS_DB_PORT"] == "5432"
    assert env["FLOWS_DB_NAME"] == "flows"
    assert env["DBT_ENV_SECRET_FLOWS_DB_PASSWORD"] == ""
