"""The meter registry asset: validate the registry file and land it in flows_raw.

A file that cannot be trusted never replaces the registry in force: one that cannot be read,
whose columns are wrong, or that would take too much of the active fleet out at once fails the
run with the reason, and the last good registry stays."""

from datetime import UTC, datetime
from pathlib import Path

import psycopg
from dagster import (
    AssetExecutionContext,
    AssetKey,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from dagster_project.defs.infrastructure.assets import INFRASTRUCTURE_KEYS
from dagster_project.defs.registry.source import RegistrySource
from dagster_project.defs.resources import DATABASE_RETRY, WarehouseResource, database_failure
from dagster_project.domain.registry import (
    RegistryFileError,
    RegistryReject,
    check_removals,
    read_registry_file,
)
from dagster_project.warehouse.infrastructure_store import esco_ids
from dagster_project.warehouse.raw_tables import ensure_raw_tables
from dagster_project.warehouse.registry_store import active_meter_ids, replace_registry

RAW_METER_REGISTRY = AssetKey(["flows_raw", "meter_registry"])
# Enough rows to act on at a glance; the full list is in flows_raw.meter_registry_rejects.
MAX_REJECTS_IN_METADATA = 50


class RegistryFileConfig(Config):
    """This run's exceptions to the registry source, e.g. a larger removal allowed once."""

    csv_path: str | None = Field(
        default=None, description="Registry CSV to load in this run (default: the source's)."
    )
    max_removed_share: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description=(
            "Largest share of the active fleet this run's file may remove (default: the source's)."
        ),
    )


@asset(
    key=RAW_METER_REGISTRY,
    group_name="registry",
    kinds={"python", "postgres"},
    retry_policy=DATABASE_RETRY,
    # ESCOs may be named by code, resolved against the ESCOs the infrastructure files loaded.
    deps=[INFRASTRUCTURE_KEYS["escos"]],
    description=(
        "Meters from the registry CSV, validated (serial, address, mode, ESCO, booleans, port, "
        "installation status). Invalid rows go to flows_raw.meter_registry_rejects; valid rows "
        "still load. A file that would remove more than max_removed_share of the active fleet "
        "is refused and the registry in force kept."
    ),
)
def meter_registry_raw(
    context: AssetExecutionContext,
    config: RegistryFileConfig,
    warehouse: WarehouseResource,
    registry_source: RegistrySource,
) -> MaterializeResult:
    csv_path = Path(config.csv_path or registry_source.csv_path)
    max_removed_share = (
        registry_source.max_removed_share
        if config.max_removed_share is None
        else config.max_removed_share
    )
    try:
        with warehouse.connect() as conn:
            ensure_raw_tables(conn)
            # ESCOs named by code are those of the infrastructure files loaded before.
            try:
                parsed = read_registry_file(csv_path, esco_ids(conn))
            except RegistryFileError as error:
                raise _refused(str(error), csv_path) from None
            for reject in parsed.rejects:
                context.log.warning(
                    "registry row %s (serial %s): field %s value %r rejected: %s",
                    reject.row_number,
                    reject.serial or "?",
                    reject.field,
                    reject.value,
                    reject.reason,
                )
            try:
                removed = check_removals(active_meter_ids(conn), parsed.meters, max_removed_share)
            except RegistryFileError as error:
                raise _refused(f"{csv_path}: {error}", csv_path, parsed.rejects) from None
            load = replace_registry(
                conn, parsed.meters, parsed.rejects, str(csv_path), loaded_at=datetime.now(UTC)
            )
    except psycopg.OperationalError as error:
        raise database_failure(warehouse, "load the registry into", error) from error

    return MaterializeResult(
        metadata={
            "rows_loaded": load.rows_loaded,
            "rows_rejected": parsed.rejected_rows,
            "active_meters_removed": removed,
            "rejects": MetadataValue.md(rejects_markdown(parsed.rejects)),
            "source_file": MetadataValue.path(str(csv_path)),
            "database": warehouse.target().display_url,
        }
    )


def _refused(reason: str, csv_path: Path, rejects: list[RegistryReject] | None = None) -> Failure:
    """The run fails with the reason alone (no traceback to read); a retry cannot mend a file."""
    metadata = {"source_file": MetadataValue.path(str(csv_path)), "reason": reason}
    if rejects:
        metadata["rejects"] = MetadataValue.md(rejects_markdown(rejects))
    return Failure(description=reason, metadata=metadata, allow_retries=False)


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
