"""Registry CSV rows built from a valid example, and a registry loaded straight into PostgreSQL."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime

from dagster_project.domain.registry import COLUMNS, parse_registry_csv
from dagster_project.warehouse import connection
from dagster_project.warehouse.raw_tables import ensure_raw_tables
from dagster_project.warehouse.registry_store import replace_registry

ESCO = "2f7a3c64-5a0b-4e8e-9d7c-1b9a2e4f6c01"


def registry_row(number: int, **overrides: str) -> dict[str, str]:
    """A valid registry row, unique per number, with some fields overridden."""
    row = {
        "id": str(uuid.UUID(int=number + 1)),
        "serial": f"EML{2200000000 + number:010d}",
        "name": f"Test house {number}",
        "ip_address": f"127.0.5.{number + 1}",
        "hardware": "C1.w",
        "mode": "active",
        "esco": ESCO,
        "single_meter_app": "false",
        "daylight_savings_correction_enabled": "true",
        "prepay_enabled": "true",
        "port": "",
        "direction_reversed": "",
    }
    row.update(overrides)
    return row


def registry_csv(rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> str:
    """The rows as a registry file's text, header first."""
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def load_registry(url: str, rows: list[dict[str, str]]) -> None:
    """The rows as the registry in the database at `url`, as a registry file would replace it
    (the raw tables are made if missing)."""
    parsed = parse_registry_csv(registry_csv(rows).splitlines(keepends=True))
    assert parsed.rejects == []
    with connection.connect(url) as conn:
        ensure_raw_tables(conn)
        replace_registry(conn, parsed.meters, [], "registry.csv", datetime.now(UTC))
