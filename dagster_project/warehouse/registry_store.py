"""Load a validated meter registry into `flows_raw`, replacing the previous load."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from dagster_project.registry import RegistryMeter, RegistryReject
from dagster_project.warehouse.raw_tables import RAW_SCHEMA

REGISTRY_COLUMNS = (
    "id",
    "serial",
    "name",
    "ip_address",
    "port",
    "hardware",
    "mode",
    "esco",
    "single_meter_app",
    "daylight_savings_correction_enabled",
    "prepay_enabled",
    "source_file",
    "source_row",
    "loaded_at",
)
REJECT_COLUMNS = ("source_file", "row_number", "field", "value", "reason", "serial", "loaded_at")


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
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(sql.SQL("delete from {}").format(_table("meter_registry")))
        with cur.copy(_copy_statement("meter_registry", REGISTRY_COLUMNS)) as copy:
            for meter in meters:
                copy.write_row(
                    (
                        meter.id,
                        meter.serial,
                        meter.name,
                        str(meter.ip_address),
                        meter.port,
                        meter.hardware,
                        meter.mode,
                        meter.esco,
                        meter.single_meter_app,
                        meter.daylight_savings_correction_enabled,
                        meter.prepay_enabled,
                        source_file,
                        meter.row_number,
                        loaded_at,
                    )
                )
        cur.execute(sql.SQL("delete from {}").format(_table("meter_registry_rejects")))
        with cur.copy(_copy_statement("meter_registry_rejects", REJECT_COLUMNS)) as copy:
            for reject in rejects:
                copy.write_row(
                    (
                        source_file,
                        reject.row_number,
                        reject.field,
                        reject.value,
                        reject.reason,
                        reject.serial,
                        loaded_at,
                    )
                )
    return RegistryLoad(rows_loaded=len(meters), rejects_loaded=len(rejects))


def _table(name: str) -> sql.Identifier:
    return sql.Identifier(RAW_SCHEMA, name)


def _copy_statement(table: str, columns: tuple[str, ...]) -> sql.Composed:
    return sql.SQL("copy {} ({}) from stdin").format(
        _table(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
