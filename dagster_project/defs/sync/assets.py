"""The fleet sync asset: poll every active meter and land one snapshot row per registry meter.

The asset is partitioned by hash bucket of meters (fleet_buckets). One run may read one bucket
(a fanned-out sync: one run per bucket, spread over run workers) or a range of them (the whole
fleet in one run, as on one machine); either way each bucket lands as a sync of its own, marked
as awaiting the raw checks' verdict (warehouse/sync_verdicts.py).
"""

from datetime import UTC, datetime

import psycopg
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    StaticPartitionsDefinition,
    asset,
)

from dagster_project.defs.registry.assets import RAW_METER_REGISTRY
from dagster_project.defs.resources import (
    DATABASE_RETRY,
    EmopSettings,
    WarehouseResource,
    database_failure,
)
from dagster_project.domain.fleet_buckets import (
    BUCKET_RANGE_END_TAG,
    BUCKET_RANGE_START_TAG,
    Bucket,
    bucket_keys,
    parse_bucket_key,
    split_by_bucket,
)
from dagster_project.domain.fleet_sync import (
    RegisteredMeter,
    SyncSummary,
    buckets_markdown,
    errors_markdown,
    slowest_markdown,
    sync_id_for_run,
    total,
)
from dagster_project.emop import runner
from dagster_project.emop.state import MeterEndpoint, MeterState
from dagster_project.services.sync import land_bucket, read_fleet
from dagster_project.warehouse.raw_tables import ensure_raw_tables
from dagster_project.warehouse.sync_store import registered_meters

METER_SYNC_SNAPSHOTS = AssetKey(["flows_raw", "meter_sync_snapshots"])


def sync_partitions(bucket_count: int) -> StaticPartitionsDefinition:
    """The sync's partitions: one per bucket of the fleet (FLOWS_SYNC_BUCKETS)."""
    return StaticPartitionsDefinition(bucket_keys(bucket_count))


def all_buckets_tags(partitions: StaticPartitionsDefinition) -> dict[str, str]:
    """Run tags that make one run read every bucket (the whole fleet)."""
    keys = partitions.get_partition_keys()
    return {BUCKET_RANGE_START_TAG: keys[0], BUCKET_RANGE_END_TAG: keys[-1]}


def read_registry(warehouse: WarehouseResource) -> list[RegisteredMeter]:
    try:
        with warehouse.connect() as conn:
            ensure_raw_tables(conn)
            return registered_meters(conn)
    except psycopg.OperationalError as error:
        raise database_failure(warehouse, "read the registry from", error) from error


def build_meter_sync(partitions: StaticPartitionsDefinition) -> AssetsDefinition:
    """The sync asset over the given buckets (their count is a deployment setting)."""

    @asset(
        key=METER_SYNC_SNAPSHOTS,
        deps=[RAW_METER_REGISTRY],
        group_name="sync",
        kinds={"python", "postgres"},
        partitions_def=partitions,
        # A range of buckets is read by one run, not by one run per bucket.
        backfill_policy=BackfillPolicy.single_run(),
        retry_policy=DATABASE_RETRY,
        description=(
            "One row per registry meter per sync: every value read from each active meter over "
            "EMOP, or why it could not be read; passive meters are recorded as skipped. "
            "Partitioned by hash bucket of meters, so that a sync can fan out over run workers."
        ),
    )
    def meter_sync(
        context: AssetExecutionContext, warehouse: WarehouseResource, emop: EmopSettings
    ) -> MaterializeResult:
        wanted = [parse_bucket_key(key) for key in context.partition_keys]
        shares = split_by_bucket(read_registry(warehouse), lambda meter: meter.id, wanted)
        polled = [meter for share in shares.values() for meter in share if meter.polled]

        started = datetime.now(UTC)
        # Every bucket of the run is read at once, under one limit of meters in progress.
        slots = emop.connection_slots(warehouse, context.run_id)
        try:
            states = runner.run(
                read_fleet(emop.client_settings(), slots, polled, say=context.log.info)
            )
        except psycopg.OperationalError as error:
            raise database_failure(warehouse, "lease connection slots from", error) from error
        finished = datetime.now(UTC)
        for state in states:
            if not state.ok:
                context.log.warning("meter %s: %s", state.meter.label, state.first_error)

        state_of = {state.meter: state for state in states}
        summaries: dict[Bucket, SyncSummary] = {}
        loaded = 0
        for bucket, share in shares.items():
            summaries[bucket], count = _land_bucket(
                warehouse, context.run_id, bucket, share, state_of, (started, finished)
            )
            loaded += count
        summary = total(summaries.values())
        context.log.info(
            "sync of %d bucket(s): %d ok (%d partial), %d failed, %d skipped in %.1f s",
            len(shares), summary.ok, summary.partial, summary.failed, summary.skipped,
            summary.duration_seconds,
        )  # fmt: skip
        sync_ids = [str(sync_id_for_run(context.run_id, bucket.key)) for bucket in shares]
        return MaterializeResult(
            metadata={
                # One sync per bucket; a run of one bucket shows its one sync_id.
                "sync_id": ", ".join(sync_ids),
                "buckets": len(shares),
                "meters_ok": summary.ok,
                "meters_partial": summary.partial,
                "meters_failed": summary.failed,
                "meters_skipped": summary.skipped,
                "rows_loaded": loaded,
                "duration_seconds": round(summary.duration_seconds, 1),
                "errors": MetadataValue.md(errors_markdown(summary)),
                "slowest_meters": MetadataValue.md(slowest_markdown(summary)),
                "by_bucket": MetadataValue.md(buckets_markdown(summaries)),
            }
        )

    return meter_sync


def _land_bucket(
    warehouse: WarehouseResource,
    run_id: str,
    bucket: Bucket,
    meters: list[RegisteredMeter],
    state_of: dict[MeterEndpoint, MeterState],
    window: tuple[datetime, datetime],
) -> tuple[SyncSummary, int]:
    """Land one bucket (services/sync.py), with the database's errors as Dagster failures."""
    sync_id = sync_id_for_run(run_id, bucket.key)
    try:
        with warehouse.connect() as conn:
            return land_bucket(conn, run_id, bucket, meters, state_of, window)
    except psycopg.OperationalError as error:
        raise database_failure(warehouse, f"write sync {sync_id} to", error) from error
    except psycopg.Error as error:
        # Rows the database refuses (a constraint, a trigger) are refused again on a retry.
        raise Failure(
            description=f"the database refused sync {sync_id} (bucket {bucket.key}): {error}",
            metadata={"sync_id": str(sync_id), "bucket": bucket.key, "error": str(error)},
            allow_retries=False,
        ) from error
