"""One fleet sync without Dagster: read the polled meters over EMOP, then land each bucket's
share as a sync of its own, awaiting the raw checks' verdict."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

import psycopg

from dagster_project.domain.fleet_buckets import Bucket
from dagster_project.domain.fleet_sync import (
    RegisteredMeter,
    SyncSummary,
    esco_of,
    skipped_row,
    snapshot_row,
    summarize,
    sync_id_for_run,
)
from dagster_project.domain.progress import Progress
from dagster_project.domain.rules.raw_expectations import SUITE_SEVERITY
from dagster_project.emop.client import ClientSettings, EmopClient
from dagster_project.emop.state import MeterEndpoint, MeterState
from dagster_project.warehouse.connection_leases import PostgresConnectionSlots
from dagster_project.warehouse.raw_tables import METER_SYNC_SNAPSHOTS
from dagster_project.warehouse.sync_store import SyncHeader, load_sync
from dagster_project.warehouse.sync_verdicts import await_judgement


async def read_fleet(
    settings: ClientSettings,
    slots: PostgresConnectionSlots,
    meters: Sequence[RegisteredMeter],
    say: Callable[[str], None] | None = None,
) -> list[MeterState]:
    """Every meter's state, read at once under the per-ESCO connection slots; `say` hears how
    far the read has got (domain/progress.py)."""
    progress = Progress("sync", total=len(meters))

    def on_state(state: MeterState) -> None:
        line = progress.record(state.ok, time.monotonic())
        if line and say:
            say(line)

    async with slots, EmopClient(settings, slots=slots) as client:
        return await client.read_fleet(
            (meter.endpoint for meter in meters), on_state=on_state, group_of=esco_of(meters)
        )


def land_bucket(
    conn: psycopg.Connection,
    run_id: str,
    bucket: Bucket,
    meters: Sequence[RegisteredMeter],
    state_of: dict[MeterEndpoint, MeterState],
    window: tuple[datetime, datetime],
) -> tuple[SyncSummary, int]:
    """Load one bucket's share of the run (`window`: when the reading started and finished) as
    a sync of its own; return its summary and the rows loaded. Database errors propagate."""
    started, finished = window
    sync_id = sync_id_for_run(run_id, bucket.key)
    polled = [meter for meter in meters if meter.polled]
    states = [state_of[meter.endpoint] for meter in polled]
    named = [
        snapshot_row(sync_id, meter, state) for meter, state in zip(polled, states, strict=True)
    ]
    named += [skipped_row(sync_id, meter, started) for meter in meters if not meter.polled]
    summary = summarize(
        states, skipped=len(meters) - len(polled), started=started, finished=finished
    )
    header = SyncHeader(
        sync_id=sync_id,
        started_at=started,
        finished_at=finished,
        meters_ok=summary.ok,
        meters_failed=summary.failed,
        meters_skipped=summary.skipped,
        run_id=run_id,
        bucket=bucket.key,
    )
    with conn.transaction():
        # In one transaction with the rows: no build reads them before the checks judge them.
        count = load_sync(conn, header, [METER_SYNC_SNAPSHOTS.row(values) for values in named])
        await_judgement(conn, sync_id, SUITE_SEVERITY)
    return summary, count
