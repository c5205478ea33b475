"""Tariff change requests in PostgreSQL: the meter facts their checks need, and the insert."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from dagster_project.domain.tariff_requests import (
    REGISTERS_MART,
    GroupTarget,
    MeterFacts,
    MeterTarget,
    Target,
    TariffChangeRequest,
    tariff_json_text,
)
from dagster_project.warehouse.infrastructure_store import serials_on
from dagster_project.warehouse.raw_tables import (
    METER_REGISTRY,
    METER_SYNC_SNAPSHOTS,
    TARIFF_CHANGE_REQUESTS,
)

METER_REGISTERS = sql.Identifier(*REGISTERS_MART.split("."))


def meters_for_target(conn: psycopg.Connection, target: Target) -> list[MeterFacts]:
    """The registry meters a request names, with their enabled registers.

    For an ESCO, a site or a feeder, all of its meters whatever their mode: which of them a
    request covers is the checks' decision, and the count of the others makes a better message
    when none is covered. A site's or feeder's meters are those the infrastructure files hang
    off its service heads.
    """
    if isinstance(target, MeterTarget):
        where, params = sql.SQL("serial = %s"), (target.serial,)
    elif isinstance(target, GroupTarget):
        where = sql.SQL("serial in ({})").format(serials_on(target.kind))
        params = (target.name,)
    elif target.esco_id is not None:
        where, params = sql.SQL("esco = %s"), (target.esco_id,)
    else:
        return []
    rows = conn.execute(
        sql.SQL(
            # A prepayment flag the registry leaves empty is the one the meter last reported.
            "select id, serial, esco, mode, coalesce(prepay_enabled, ("
            "  select snapshots.prepay_enabled from {} as snapshots"
            "  where snapshots.meter_id = registry.id and snapshots.prepay_enabled is not null"
            "  order by snapshots.polled_at desc limit 1"
            ")), hardware, installation_status "
            "from {} as registry where {} order by serial"
        ).format(METER_SYNC_SNAPSHOTS.identifier, METER_REGISTRY.identifier, where),
        params,
    ).fetchall()
    elements = enabled_elements(conn, [row[0] for row in rows])
    return [
        MeterFacts(
            *row[:6],
            enabled_elements=None if elements is None else elements.get(row[0], frozenset()),
            installation_status=row[6],
        )
        for row in rows
    ]


def enabled_elements(
    conn: psycopg.Connection, meter_ids: list[uuid.UUID]
) -> dict[uuid.UUID, frozenset[str]] | None:
    """Each meter's enabled register elements from the mart; None when dbt has not built it."""
    (exists,) = conn.execute("select to_regclass(%s) is not null", (REGISTERS_MART,)).fetchone()
    if not exists:
        return None
    if not meter_ids:
        return {}
    rows = conn.execute(
        sql.SQL(
            "select meter_id, element from {} where status = 'enabled' and meter_id = any(%s)"
        ).format(METER_REGISTERS),
        (meter_ids,),
    )
    elements: dict[uuid.UUID, set[str]] = defaultdict(set)
    for meter_id, element in rows:
        elements[meter_id].add(element)
    return {meter_id: frozenset(found) for meter_id, found in elements.items()}


def request_row(request: TariffChangeRequest) -> dict[str, Any]:
    """The request as parameters named after the table's columns."""
    return {
        "request_id": request.request_id,
        "target_kind": request.target_kind,
        "meter_id": request.meter_id,
        "serial": request.serial,
        "esco": request.esco,
        "target_name": request.target_name,
        # Money goes in as exact JSON numbers: the default dumps would need floats.
        "tariff": Jsonb(request.tariff.to_json(), dumps=tariff_json_text),
        "activation_at": request.activation_at,
        "requested_by": request.requested_by,
        "requested_at": request.requested_at,
    }


def insert_request(conn: psycopg.Connection, request: TariffChangeRequest) -> None:
    names = TARIFF_CHANGE_REQUESTS.column_names
    statement = sql.SQL("insert into {} ({}) values ({})").format(
        TARIFF_CHANGE_REQUESTS.identifier,
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(", ").join(map(sql.Placeholder, names)),
    )
    conn.execute(statement, request_row(request))
