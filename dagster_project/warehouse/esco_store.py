"""What the warehouse knows of an ESCO: whether the meter registry names it."""

from __future__ import annotations

import uuid

import psycopg
from psycopg import sql

from dagster_project.warehouse.raw_tables import METER_REGISTRY


def registry_meter_count(conn: psycopg.Connection, esco: uuid.UUID) -> int:
    """How many meters of the loaded registry (flows_raw.meter_registry) belong to `esco`; 0
    for an ESCO it does not name. The raw tables must exist (ensure_raw_tables)."""
    query = sql.SQL("select count(*) from {} where esco = %s").format(METER_REGISTRY.identifier)
    row = conn.execute(query, (esco,)).fetchone()
    assert row is not None  # count(*) always gives a row
    return int(row[0])
