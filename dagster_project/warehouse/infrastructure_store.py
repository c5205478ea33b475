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


def polled_meters(
    conn: psycopg.Connection,
    esco: str | None = None,
    site: str | None = None,
    feeder: str | None = None,
) -> list[SelectedMeter]:
    """The meters the sync polls, of an ESCO (code or UUID), on a site (code) and on a feeder
    (name), each given or not, by serial: the registry and infrastructure files as loaded."""
    query = sql.SQL(
        """
        select registry.serial, host(registry.ip_address) as host, registry.port, registry.name
        from {registry} as registry
        left join {escos} as escos on registry.esco = escos.id
        left join {links} as links on registry.serial = links.serial
        left join {heads} as heads on links.service_head = heads.name
        where
            registry.not_polled_reason is null
            and (%(esco)s::text is null
                 or escos.code = lower(%(esco)s) or registry.esco::text = lower(%(esco)s))
            and (%(feeder)s::text is null or heads.feeder = %(feeder)s)
            and (%(site)s::text is null or exists (
                select from {properties} as properties
                where properties.service_head = links.service_head
                    and properties.site = lower(%(site)s)))
        order by registry.serial
        """
    ).format(
        registry=METER_REGISTRY.identifier,
        escos=INFRASTRUCTURE_TABLES["escos"].identifier,
        links=INFRASTRUCTURE_TABLES["service_head_meters"].identifier,
        heads=INFRASTRUCTURE_TABLES["service_heads"].identifier,
        properties=INFRASTRUCTURE_TABLES["property_service_heads"].identifier,
    )
    with conn.cursor(row_factory=class_row(SelectedMeter)) as cursor:
        return cursor.execute(query, {"esco": esco, "site": site, "feeder": feeder}).fetchall()
