"""BI access: a member of flows_bi reads every relation of schema `flows`, later ones included,
and cannot read the raw or staging data or write anywhere."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import conninfo, errors, sql

from dagster_project.warehouse import connection
from dagster_project.warehouse.raw_tables import ensure_raw_tables
from tests.support.dbt_cli import run_dbt

BI_ROLE = "flows_bi"


@pytest.fixture(scope="module")
def bi_login(database_url: str) -> Iterator[str]:
    """A database URL that logs in as a new member of flows_bi, after dbt has built the marts."""
    with connection.connect(database_url) as conn:
        ensure_raw_tables(conn)
    build = run_dbt(database_url, "run")
    assert build.returncode == 0, build.stdout[-4000:]
    user = f"bi_analyst_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    with connection.connect(database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("create role {} login password {} in role {}").format(
                sql.Identifier(user), sql.Literal(password), sql.Identifier(BI_ROLE)
            )
        )
    try:
        yield conninfo.make_conninfo(database_url, user=user, password=password)
    finally:
        with connection.connect(database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(user)))


@pytest.fixture
def analyst(bi_login: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(bi_login, autocommit=True) as conn:
        yield conn


def relations(db: psycopg.Connection, schema: str) -> list[str]:
    rows = db.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relkind in ('r', 'v', 'm', 'p') order by 1",
        (schema,),
    ).fetchall()
    return [name for (name,) in rows]


def test_a_bi_member_reads_every_mart(db: psycopg.Connection, analyst) -> None:
    marts = relations(db, "flows")
    assert {"meter_shadows", "meter_prepay_balance", "meters_low_balance"} <= set(marts)
    for name in marts:
        analyst.execute(sql.SQL("select * from flows.{} limit 1").format(sql.Identifier(name)))


def test_a_bi_member_reads_tables_created_later(db: psycopg.Connection, bi_login: str) -> None:
    later = f"created_later_{secrets.token_hex(4)}"
    db.execute(sql.SQL("create table flows.{} (n int)").format(sql.Identifier(later)))
    db.execute(sql.SQL("insert into flows.{} values (7)").format(sql.Identifier(later)))
    try:
        with psycopg.connect(bi_login) as analyst:
            query = sql.SQL("select n from flows.{}").format(sql.Identifier(later))
            assert analyst.execute(query).fetchall() == [(7,)]
    finally:
        db.execute(sql.SQL("drop table flows.{}").format(sql.Identifier(later)))


@pytest.mark.parametrize("schema", ["flows_raw", "flows_staging"])
def test_a_bi_member_cannot_read_raw_or_staging(db: psycopg.Connection, analyst, schema) -> None:
    names = relations(db, schema)
    assert names, f"{schema} should have relations to try"
    for name in names:
        statement = sql.SQL("select * from {}.{} limit 1").format(
            sql.Identifier(schema), sql.Identifier(name)
        )
        with pytest.raises(errors.InsufficientPrivilege):
            analyst.execute(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "delete from flows.meter_shadows",
        "update flows.meter_registry set name = 'x'",
        "insert into flows.meter_prepay_balance (meter_id, timestamp, balance) "
        "values (gen_random_uuid(), now(), 1)",
        "truncate flows.daily_balance_summary",
        "create table flows.scratch (n int)",
        "create table flows_raw.scratch (n int)",
        "create table public.scratch (n int)",
        "drop view flows.meters_low_balance",
        "create schema scratch",
    ],
)
def test_a_bi_member_cannot_write(analyst, statement: str) -> None:
    with pytest.raises(errors.InsufficientPrivilege):
        analyst.execute(statement)
