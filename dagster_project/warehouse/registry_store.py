"""Load a validated meter registry into `flows_raw`, replacing the previous load."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from dagster_project.domain.registry import RegistryMeter, RegistryReject
from dagster_project.warehouse.raw_tables import METER_REGISTRY, METER_REGISTRY_REJECTS, copy_rows


@dataclass(frozen=True)
class RegistryLoad:
    rows_loaded: int
    rejects_loaded: int


def replace_registry(
    conn: psycopg.Connection,
    meters: list[RegistryMeter],
    rejects: list[RegistryReject],
    source_file: str,
    loaded_at: datetime,
) -> RegistryLoad:
    """Make the raw registry and its rejects exactly this load, in one transaction.

    The registry file is the whole truth, so a re-run replaces rather than appends.
    """
    meter_rows = (
        (
            meter.id,
            meter.serial,
            meter.name,
            meter.ip_address,
            meter.port,
            meter.hardware,
            meter.mode,
            meter.esco,
            meter.single_meter_app,
            meter.daylight_savings_correction_enabled,
            meter.prepay_enabled,
            meter.direction_reversed,
            meter.installation_status,
            meter.not_polled_reason,
            source_file,
            meter.row_number,
            loaded_at,
        )
        for meter in meters
    )
    reject_rows = (
        (
            source_file,
            reject.row_number,
            reject.field,
            reject.value,
            reject.reason,
            reject.serial,
            loaded_at,
        )
        for reject in rejects
    )
    with conn.transaction(), conn.cursor() as cursor:
        for table, rows in ((METER_REGISTRY, meter_rows), (METER_REGISTRY_REJECTS, reject_rows)):
            cursor.execute(sql.SQL("delete from {}").format(table.identifier))
            copy_rows(cursor, table, rows)
    return RegistryLoad(rows_loaded=len(meters), rejects_loaded=len(rejects))


def active_meter_ids(conn: psycopg.Connection) -> list[uuid.UUID]:
    """The meters in service that the registry in force polls: active and not deleted."""
    query = sql.SQL(
        "select id from {} where mode = 'active' and installation_status is distinct from 'deleted'"
    ).format(METER_REGISTRY.identifier)
    return [meter_id for (meter_id,) in conn.execute(query)]
