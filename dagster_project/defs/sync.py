"""The fleet sync asset: poll every active meter and land one snapshot row per registry meter."""

from datetime import UTC, datetime

import psycopg
from dagster import (
    AssetExecutionContext,
    AssetKey,
    Backoff,
    Failure,
    Jitter,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    asset,
)

from dagster_project.emop import runner
from dagster_project.emop.client import EmopClient
from dagster_project.emop.state import MeterState
from dagster_project.fleet_sync import (
    RegisteredMeter,
    errors_markdown,
    skipped_row,
    slowest_markdown,
    snapshot_row,
    summarize,
    sync_id_for_run,
)
from dagster_project.warehouse.raw_tables import ensure_raw_tables
from dagster_project.warehouse.sync_store import SyncHeader, load_sync, registered_meters

from .registry import RAW_METER_REGISTRY
from .resources import EmopSettings, WarehouseResource

METER_SYNC_SNAPSHOTS = AssetKey(["flows_raw", "meter_sync_snapshots"])

# A database that went away is worth another go; meters are never the reason for a retry.
DATABASE_RETRY = RetryPolicy(
    max_retries=2, delay=5, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)


def read_registry(warehouse: WarehouseResource) -> list[RegisteredMeter]:
    try:
        with warehouse.connect() as conn:
            ensure_raw_tables(conn)
            return registered_meters(conn)
    except psycopg.OperationalError as error:
        raise database_failure(warehouse, "read the registry from", error) from error


def database_failure(warehouse: WarehouseResource, doing: str, error: Exception) -> Failure:
    where = warehouse.target().display_url
    return Failure(
        description=f"could not {doing} the database {where}: {error}".strip(),
        metadata={"database": where, "error": str(error)},
    )


@asset(
    key=METER_SYNC_SNAPSHOTS,
    deps=[RAW_METER_REGISTRY],
    group_name="sync",
    kinds={"python", "postgres"},
    retry_policy=DATABASE_RETRY,
    description=(
        "One row per registry meter per sync: every value read from each active meter over "
        "EMOP, or why it could not be read; passive meters are recorded as skipped."
    ),
)
def meter_sync(
    context: AssetExecutionContext, warehouse: WarehouseResource, emop: EmopSettings
) -> MaterializeResult:
    meters = read_registry(warehouse)
    polled = [meter for meter in meters if meter.polled]
    by_endpoint = {meter.endpoint: meter for meter in polled}
    sync_id = sync_id_for_run(context.run_id)

    started = datetime.now(UTC)
    states = runner.run(_read_fleet(emop, polled))
    finished = datetime.now(UTC)

    rows = [snapshot_row(sync_id, by_endpoint[state.meter], state) for state in states]
    rows += [skipped_row(sync_id, meter, started) for meter in meters if not meter.polled]
    summary = summarize(
        states, skipped=len(meters) - len(polled), started=started, finished=finished
    )
    for state in states:
        if not state.ok:
            context.log.warning("meter %s: %s", state.meter.label, state.first_error)

    header = SyncHeader(
        sync_id=sync_id,
        started_at=started,
        finished_at=finished,
        meters_ok=summary.ok,
        meters_failed=summary.failed,
        meters_skipped=summary.skipped,
        run_id=context.run_id,
    )
    try:
        with warehouse.connect() as conn:
            loaded = load_sync(conn, header, rows)
    except psycopg.OperationalError as error:
        raise database_failure(warehouse, f"write sync {sync_id} to", error) from error

    context.log.info(
        "sync %s: %d ok, %d failed, %d skipped in %.1f s",
        sync_id, summary.ok, summary.failed, summary.skipped, summary.duration_seconds,
    )  # fmt: skip
    return MaterializeResult(
        metadata={
            "sync_id": str(sync_id),
            "meters_ok": summary.ok,
            "meters_failed": summary.failed,
            "meters_skipped": summary.skipped,
            "rows_loaded": loaded,
            "duration_seconds": round(summary.duration_seconds, 1),
            "errors": MetadataValue.md(errors_markdown(summary)),
            "slowest_meters": MetadataValue.md(slowest_markdown(summary)),
        }
    )


async def _read_fleet(emop: EmopSettings, meters: list[RegisteredMeter]) -> list[MeterState]:
    async with EmopClient(emop.client_settings()) as client:
        return await client.read_fleet(meter.endpoint for meter in meters)
