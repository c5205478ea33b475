"""The infrastructure files in `flows_raw`: each kind's table replaced whole by a good file,
with its rejects, in one transaction; and what is in force, for validating the next file."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from dagster_project.domain.infrastructure import ESCOS, Kind, ParsedFile
from dagster_project.warehouse.raw_tables import (
    INFRASTRUCTURE_REJECTS,
    INFRASTRUCTURE_TABLES,
    copy_rows,
)


def replace_infrastructure(
    conn: psycopg.Connection, parsed: ParsedFile, source_file: str, loaded_at: datetime
) -> None:
    """Make a kind's table and its rejects exactly this file's: the file is the whole truth."""
    table = INFRASTRUCTURE_TABLES[parsed.kind.name]
    loaded = {"source_file": source_file, "loaded_at": loaded_at}
    rows = (table.row({**row, **loaded}) for row in parsed.rows)
    rejects = (
        INFRASTRUCTURE_REJECTS.row({**asdict(reject), **loaded}) for reject in parsed.rejects
    )
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(sql.SQL("delete from {}").format(table.identifier))
        copy_rows(cursor, table, rows)
        cursor.execute(
            sql.SQL("delete from {} where kind = %s").format(INFRASTRUCTURE_REJECTS.identifier),
            (parsed.kind.name,),
        )
        copy_rows(cursor, INFRASTRUCTURE_REJECTS, rejects)


def rows_in_force(conn: psycopg.Connection, kind: Kind) -> list[dict[str, Any]]:
    """The key columns (and an ESCO's id) of the rows of a kind loaded before."""
    columns = (*kind.key, "id") if kind is ESCOS else kind.key
    query = sql.SQL("select {} from {}").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        INFRASTRUCTURE_TABLES[kind.name].identifier,
    )
    with conn.cursor(row_factory=dict_row) as cursor:
        return cursor.execute(query).fetchall()


def esco_ids(conn: psycopg.Connection) -> dict[str, uuid.UUID]:
    """The ESCOs in force by code, for the registry's `esco` given as a code."""
    query = sql.SQL("select code, id from {}").format(INFRASTRUCTURE_TABLES["escos"].identifier)
    return {code: esco_id for code, esco_id in conn.execute(query)}
