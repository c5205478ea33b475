"""DDL of the landing tables in `flows_raw`, written by Python and read by dbt sources."""

from __future__ import annotations

import psycopg

RAW_SCHEMA = "flows_raw"

_DDL = (
    "create schema if not exists flows_raw",
    """
    create table if not exists flows_raw.meter_registry (
        id uuid primary key,
        serial text not null unique,
        name text not null,
        ip_address inet not null,
        port integer not null check (port between 1 and 65535),
        hardware text,
        mode text not null check (mode in ('active', 'passive')),
        esco uuid not null,
        single_meter_app boolean not null,
        daylight_savings_correction_enabled boolean not null,
        prepay_enabled boolean not null,
        source_file text not null,
        source_row integer not null,
        loaded_at timestamptz not null
    )
    """,
    """
    create table if not exists flows_raw.meter_registry_rejects (
        source_file text not null,
        row_number integer not null,
        field text not null,
        value text,
        reason text not null,
        serial text,
        loaded_at timestamptz not null
    )
    """,
)


def ensure_raw_tables(conn: psycopg.Connection) -> None:
    """Create the raw schema and tables if they are missing (safe to run every time)."""
    with conn.transaction():
        for statement in _DDL:
            conn.execute(statement)
