"""Daily-partitioned meter logs (by UTC day): half-hourly profile logs 1 (import) and 2 (export,
reactive, voltage) and the event log."""

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from dagster_project.defs.registry.assets import RAW_METER_REGISTRY
from dagster_project.defs.resources import (
    DATABASE_RETRY,
    EmopSettings,
    WarehouseResource,
    database_failure,
)
from dagster_project.defs.sync.assets import read_registry
from dagster_project.domain.fleet_sync import RegisteredMeter
from dagster_project.emop.errors import EmopError
from dagster_project.services.logs import (
    LogResults,
    Reader,
    Window,
    event_rows,
    profile_2_rows,
    profile_rows,
    read_events,
    read_logs,
    read_profile_log_1,
    read_profile_log_2,
    with_closing_record,
)
from dagster_project.warehouse.sync_store import (
    load_event_log,
    load_profile_log_1,
    load_profile_log_2,
)

PROFILE_LOG_1 = AssetKey(["flows_raw", "profile_log_1"])
PROFILE_LOG_2 = AssetKey(["flows_raw", "profile_log_2"])
PROFILE_LOG_LOADS = AssetKey(["flows_raw", "profile_log_loads"])
METER_EVENT_LOG = AssetKey(["flows_raw", "meter_event_log"])

#: UTC days; today's partition exists (end_offset=1) so the day so far can be loaded too.
daily_partitions = DailyPartitionsDefinition(start_date="2024-01-01", end_offset=1)


def _log_metadata(results: LogResults, rows: int) -> dict[str, Any]:
    failures = [(meter, result) for meter, result in results if isinstance(result, EmopError)]
    by_class = Counter(error.kind for _, error in failures)
    lines = ["| serial | error |", "|---|---|"] + [
        f"| {meter.serial} | {str(error).replace('|', '/')} |" for meter, error in failures[:50]
    ]
    return {
        "meters_read": len(results) - len(failures),
        "meters_failed": len(failures),
        "rows_loaded": rows,
        "errors_by_class": dict(by_class),
        "failed_meters": MetadataValue.md("\n".join(lines) if failures else "No meter failed."),
    }


def _land(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    emop: EmopSettings,
    read: Reader,
    to_rows: Callable[[RegisteredMeter, list[Any], datetime], list[tuple[Any, ...]]],
    load: Callable[..., int],
    widen: Callable[[Window], Window] = lambda window: window,
) -> MaterializeResult:
    window_range = context.partition_time_window
    window = widen((window_range.start.astimezone(UTC), window_range.end.astimezone(UTC)))
    meters = [meter for meter in read_registry(warehouse) if meter.polled]
    slots = emop.connection_slots(warehouse, context.run_id)
    try:
        what = f"{context.asset_key.path[-1]} for {context.partition_key}"
        results = read_logs(
            emop.client_settings(), slots, meters, window, read, say=context.log.info, what=what
        )
    except psycopg.OperationalError as error:
        raise database_failure(warehouse, "lease connection slots from", error) from error
    loaded_at = datetime.now(UTC)
    read_ok = [(meter, records) for meter, records in results if not isinstance(records, EmopError)]
    for meter, error in results:
        if isinstance(error, EmopError):
            context.log.warning("meter %s: %s", meter.serial, error)
    rows = [row for meter, records in read_ok for row in to_rows(meter, records, loaded_at)]
    try:
        with warehouse.connect() as conn:
            count = load(conn, window, [meter.id for meter, _ in read_ok], rows)
    except psycopg.OperationalError as error:
        raise database_failure(
            warehouse, f"write partition {context.partition_key} to", error
        ) from error
    return MaterializeResult(metadata=_log_metadata(results, count))


@asset(
    key=PROFILE_LOG_1,
    deps=[RAW_METER_REGISTRY],
    partitions_def=daily_partitions,
    group_name="logs",
    kinds={"python", "postgres"},
    retry_policy=DATABASE_RETRY,
    description=(
        "Half-hourly cumulative import registers (element A and B, Wh) of every active meter "
        "for one UTC day; a register the meter could not record is NULL."
    ),
)
def profile_log_1(
    context: AssetExecutionContext, warehouse: WarehouseResource, emop: EmopSettings
) -> MaterializeResult:
    return _land(
        context, warehouse, emop, read_profile_log_1, profile_rows, load_profile_log_1,
        widen=with_closing_record,
    )  # fmt: skip


@asset(
    key=PROFILE_LOG_2,
    # Not a data dependency: a meter serves one profile-log read at a time, so in a run log 2
    # is read after log 1 has finished with every meter, never beside it.
    deps=[RAW_METER_REGISTRY, PROFILE_LOG_1],
    partitions_def=daily_partitions,
    group_name="logs",
    kinds={"python", "postgres"},
    retry_policy=DATABASE_RETRY,
    description=(
        "Half-hourly cumulative export (Wh) and reactive import and export (varh) registers, "
        "element A and, on twin-element meters, B, and the voltage as the meter records it, of "
        "every active meter for one UTC day; read after profile log 1."
    ),
)
def profile_log_2(
    context: AssetExecutionContext, warehouse: WarehouseResource, emop: EmopSettings
) -> MaterializeResult:
    return _land(
        context, warehouse, emop, read_profile_log_2, profile_2_rows, load_profile_log_2,
        widen=with_closing_record,
    )  # fmt: skip


#: Not materialized on its own: each load of profile log 1 or 2 writes its row here in the same
#: transaction as its records (warehouse/sync_store.py); the energy build reads it.
profile_log_loads = AssetSpec(
    key=PROFILE_LOG_LOADS,
    deps=[PROFILE_LOG_1, PROFILE_LOG_2],
    group_name="logs",
    kinds={"postgres"},
    description=(
        "One row per day of a profile log landed, with the meters it replaced rows of: the "
        "loads the energy build has not taken in yet are its new data."
    ),
)


@asset(
    key=METER_EVENT_LOG,
    deps=[RAW_METER_REGISTRY],
    partitions_def=daily_partitions,
    group_name="logs",
    kinds={"python", "postgres"},
    retry_policy=DATABASE_RETRY,
    description="Every active meter's event-log entries (top-ups, power, ...) for one UTC day.",
)
def meter_event_log(
    context: AssetExecutionContext, warehouse: WarehouseResource, emop: EmopSettings
) -> MaterializeResult:
    return _land(context, warehouse, emop, read_events, event_rows, load_event_log)
