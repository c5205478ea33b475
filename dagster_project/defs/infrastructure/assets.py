"""The infrastructure asset: the operator's files of ESCOs, sites, properties, feeders, service
heads, circuits and their links, validated and landed in flows_raw, one table per file.

A bad file never replaces good data: the kind loaded before stays and the file's check fails
with the reason (error severity, so the run does not look like a success), while the other
files, the registry and the fleet go on. Rejected rows are kept in
flows_raw.infrastructure_rejects and make the check warn."""

from datetime import UTC, datetime

import psycopg
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from dagster_project.defs.registry.source import RegistrySource
from dagster_project.defs.resources import DATABASE_RETRY, WarehouseResource, database_failure
from dagster_project.domain.infrastructure import KINDS, InfrastructureReject
from dagster_project.domain.rules.fleet_rules import markdown_table
from dagster_project.services.infrastructure import KindLoad, load_infrastructure
from dagster_project.warehouse.raw_tables import ensure_raw_tables

INFRASTRUCTURE_KEYS = {kind.name: AssetKey(["flows_raw", kind.name]) for kind in KINDS}
INFRASTRUCTURE_REJECTS_KEY = AssetKey(["flows_raw", "infrastructure_rejects"])
FILE_CHECK = "file_loaded"
# Enough rows to act on at a glance; the full list is in flows_raw.infrastructure_rejects.
MAX_REJECTS_IN_METADATA = 50


@multi_asset(
    specs=[
        *(
            AssetSpec(
                key,
                description=f"The {kind} of the operator's {kind}.csv, validated.",
                kinds={"python", "postgres"},
            )
            for kind, key in INFRASTRUCTURE_KEYS.items()
        ),
        AssetSpec(
            INFRASTRUCTURE_REJECTS_KEY,
            description="Each rejected row of the infrastructure files: file, row, field, why.",
            kinds={"python", "postgres"},
        ),
    ],
    check_specs=[
        AssetCheckSpec(
            FILE_CHECK,
            asset=key,
            description=(
                f"{kind}.csv loaded whole (error: unreadable or gone, the {kind} loaded before "
                "kept); warn when rows were rejected."
            ),
        )
        for kind, key in INFRASTRUCTURE_KEYS.items()
    ],
    name="infrastructure_files",
    group_name="registry",
    retry_policy=DATABASE_RETRY,
)
def infrastructure_files(
    context: AssetExecutionContext, warehouse: WarehouseResource, registry_source: RegistrySource
):  # type: ignore[no-untyped-def]
    directory = registry_source.infrastructure_path()
    try:
        with warehouse.connect() as conn:
            ensure_raw_tables(conn)
            loads = load_infrastructure(conn, directory, datetime.now(UTC), say=context.log.info)
    except psycopg.OperationalError as error:
        raise database_failure(warehouse, "load the infrastructure files into", error) from error

    rejects: list[InfrastructureReject] = []
    for load in loads:
        for reject in load.rejects:
            context.log.warning(
                "%s row %s: field %s value %r rejected: %s",
                load.path.name,
                reject.row_number,
                reject.field,
                reject.value,
                reject.reason,
            )
        if load.problem:
            context.log.error(load.problem)
        rejects += load.rejects
        yield MaterializeResult(
            asset_key=INFRASTRUCTURE_KEYS[load.kind],
            metadata={
                "outcome": load.outcome,
                "rows": load.rows,
                "rows_rejected": len({reject.row_number for reject in load.rejects}),
                "source_file": MetadataValue.path(str(load.path)),
            },
        )
        yield file_check(load)
    yield MaterializeResult(
        asset_key=INFRASTRUCTURE_REJECTS_KEY,
        metadata={"rejects": len(rejects), "table": MetadataValue.md(rejects_markdown(rejects))},
    )


def file_check(load: KindLoad) -> AssetCheckResult:
    """The file's verdict: error when it could not replace its kind, warn on rejected rows."""
    rows = sorted({reject.row_number for reject in load.rejects})
    if load.problem:
        severity, description = AssetCheckSeverity.ERROR, load.problem
    else:
        severity = AssetCheckSeverity.WARN
        description = (
            f"{load.path.name}: {len(rows)} row(s) rejected (rows {', '.join(map(str, rows[:20]))}"
            f"{', ...' if len(rows) > 20 else ''}); see flows_raw.infrastructure_rejects"
            if rows
            else f"{load.kind}: {load.outcome}, {load.rows} rows"
        )
    return AssetCheckResult(
        asset_key=INFRASTRUCTURE_KEYS[load.kind],
        check_name=FILE_CHECK,
        passed=not (load.problem or rows),
        severity=severity,
        description=description,
        metadata={"outcome": load.outcome, "rows_rejected": len(rows)},
    )


def rejects_markdown(rejects: list[InfrastructureReject]) -> str:
    rows = [
        {
            "file": f"{reject.kind}.csv",
            "row": reject.row_number,
            "field": reject.field,
            "value": reject.value,
            "reason": reject.reason,
        }
        for reject in rejects
    ]
    return markdown_table(rows, limit=MAX_REJECTS_IN_METADATA)
