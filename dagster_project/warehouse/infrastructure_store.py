"""The infrastructure files in `flows_raw`: each kind's table replaced whole by a good file,
with its rejects, in one transaction; and what is in force, for validating the next file."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row, dict_row

from dagster_project.domain.infrastructure import ESCOS, Kind, ParsedFile
from dagster_project.warehouse.raw_tables import (
    INFRASTRUCTURE_REJECTS,
    INFRASTRUCTURE_TABLES,
    METER_REGISTRY,
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


@dataclass(frozen=True)
class SelectedMeter:
    serial: str
    host: str
    port: int
    name: str


def serials_on(kind: str) -> sql.Composed:
    """A subquery of the serials the infrastructure files hang off the service heads of a
    `site` (its code, any case) or a `feeder` (its name), given as its one parameter."""
    links = INFRASTRUCTURE_TABLES["service_head_meters"].identifier
    if kind == "site":
        heads = sql.SQL("select service_head from {} where site = lower(%s)").format(
            INFRASTRUCTURE_TABLES["property_service_heads"].identifier
        )
    elif kind == "feeder":
        heads = sql.SQL("select name from {} where feeder = %s").format(
            INFRASTRUCTURE_TABLES["service_heads"].identifier
        )
    else:
        raise ValueError(f"meters are on a site or a feeder, not a {kind!r}")
    return sql.SQL("select serial from {} where service_head in ({})").format(links, heads)


def polled_meters(
    conn: psycopg.Connection,
    esco: str | None = None,
    site: str | None = None,
    feeder: str | None = None,
) -> list[SelectedMeter]:
    """The meters the sync polls, of an ESCO (code or UUID), on a site (code) and on a feeder
    (name), each given or not, by serial: the registry and infrastructure files as loaded."""
    conditions = [sql.SQL("registry.not_polled_reason is null")]
    params: list[str] = []
    if esco is not None:
        conditions.append(
            sql.SQL(
                "(registry.esco::text = lower(%s) "
                "or registry.esco in (select id from {} where code = lower(%s)))"
            ).format(INFRASTRUCTURE_TABLES["escos"].identifier)
        )
        params += [esco, esco]
    for kind, value in (("site", site), ("feeder", feeder)):
        if value is not None:
            conditions.append(sql.SQL("registry.serial in ({})").format(serials_on(kind)))
            params.append(value)
    query = sql.SQL(
        "select registry.serial, host(registry.ip_address) as host, registry.port, registry.name "
        "from {} as registry where {} order by registry.serial"
    ).format(METER_REGISTRY.identifier, sql.SQL(" and ").join(conditions))
    with conn.cursor(row_factory=class_row(SelectedMeter)) as cursor:
        return cursor.execute(query, params).fetchall()
