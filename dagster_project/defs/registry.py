"""The meter registry asset: validate the registry file and land it in flows_raw."""

import os
from datetime import UTC, datetime
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetKey,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from dagster_project.paths import DEMO_REGISTRY_CSV
from dagster_project.registry import RegistryReject, parse_registry_csv
from dagster_project.warehouse.raw_tables import ensure_raw_tables
from dagster_project.warehouse.registry_store import replace_registry

from .resources import WarehouseResource

REGISTRY_CSV_ENV = "FLOWS_REGISTRY_CSV"
RAW_METER_REGISTRY = AssetKey(["flows_raw", "meter_registry"])
# Enough rows to act on at a glance; the full list is in flows_raw.meter_registry_rejects.
MAX_REJECTS_IN_METADATA = 50


def default_registry_csv() -> str:
    return os.environ.get(REGISTRY_CSV_ENV) or str(DEMO_REGISTRY_CSV)


class RegistryFileConfig(Config):
    csv_path: str = Field(
        default_factory=default_registry_csv,
        description=f"Registry CSV to load (default: ${REGISTRY_CSV_ENV}, else the demo fleet).",
    )


@asset(
    key=RAW_METER_REGISTRY,
    group_name="registry",
    kinds={"python", "postgres"},
    description=(
        "Meters from the registry CSV, validated (serial, address, mode, ESCO, booleans, port). "
        "Invalid rows go to flows_raw.meter_registry_rejects; valid rows still load."
    ),
)
def meter_registry_raw(
    context: AssetExecutionContext, config: RegistryFileConfig, warehouse: WarehouseResource
) -> MaterializeResult:
    csv_path = Path(config.csv_path)
    with csv_path.open(newline="", encoding="utf-8-sig") as registry_file:
        parsed = parse_registry_csv(registry_file)

    for reject in parsed.rejects:
        context.log.warning(
            "registry row %s (serial %s): field %s value %r rejected: %s",
            reject.row_number,
            reject.serial or "?",
            reject.field,
            reject.value,
            reject.reason,
        )

    with warehouse.connect() as conn:
        ensure_raw_tables(conn)
        load = replace_registry(
            conn, parsed.meters, parsed.rejects, str(csv_path), loaded_at=datetime.now(UTC)
        )

    return MaterializeResult(
        metadata={
            "rows_loaded": load.rows_loaded,
            "rows_rejected": parsed.rejected_rows,
            "rejects": MetadataValue.md(rejects_markdown(parsed.rejects)),
            "source_file": MetadataValue.path(str(csv_path)),
            "database": warehouse.target().display_url,
        }
    )


def rejects_markdown(rejects: list[RegistryReject]) -> str:
    if not rejects:
        return "No rejected rows."
    lines = ["| row | serial | field | value | reason |", "|---|---|---|---|---|"]
    for reject in rejects[:MAX_REJECTS_IN_METADATA]:
        cells = (
            str(reject.row_number),
            reject.serial or "",
            reject.field,
            "" if reject.value is None else reject.value,
            reject.reason,
        )
        lines.append("| " + " | ".join(_md_cell(cell) for cell in cells) + " |")
    if len(rejects) > MAX_REJECTS_IN_METADATA:
        lines.append(
            f"\n{len(rejects) - MAX_REJECTS_IN_METADATA} more in flows_raw.meter_registry_rejects."
        )
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
