"""The daily meter logs without Dagster: read one UTC day of profile log 1 or the event log
from each meter, and turn what was read into raw rows."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from dagster_project.domain.fleet_sync import RegisteredMeter, esco_of
from dagster_project.domain.profile_log import distinct_records
from dagster_project.domain.progress import Progress
from dagster_project.emop import runner
from dagster_project.emop.client import PROFILE_INTERVAL, ClientSettings, EmopClient
from dagster_project.emop.errors import EmopError
from dagster_project.emop.state import MeterEndpoint
from dagster_project.warehouse.connection_leases import PostgresConnectionSlots

#: A (start, end) window of records: start <= timestamp < end.
Window = tuple[datetime, datetime]
#: Reads one meter's records for a window.
Reader = Callable[[EmopClient, RegisteredMeter, Window], Awaitable[list[Any]]]
#: What each meter gave: its records, or the error that stopped the read.
LogResults = list[tuple[RegisteredMeter, list[Any] | EmopError]]


def with_closing_record(window: Window) -> Window:
    """A day's profile-log window widened to the record at its end: a record holds the
    cumulative registers at its timestamp, so the day's last half-hour is closed by the next
    day's first record. Read with the day, it lets the day's energy be complete the morning
    after (the next day's download lands the same record again, idempotently)."""
    return window[0], window[1] + PROFILE_INTERVAL


async def read_profile_log_1(
    client: EmopClient, meter: RegisteredMeter, window: tuple[datetime, datetime]
) -> list[Any]:
    return await client.read_profile_range(
        meter.endpoint, 1, window[0], window[1], twin_element=meter.twin_element
    )


async def read_profile_log_2(
    client: EmopClient, meter: RegisteredMeter, window: tuple[datetime, datetime]
) -> list[Any]:
    return await client.read_profile_range(
        meter.endpoint, 2, window[0], window[1], twin_element=meter.twin_element
    )


async def read_events(
    client: EmopClient, meter: RegisteredMeter, window: tuple[datetime, datetime]
) -> list[Any]:
    entries = await client.read_events_since(meter.endpoint, window[0])
    return [entry for entry in entries if entry.timestamp < window[1]]


def read_logs(
    settings: ClientSettings,
    slots: PostgresConnectionSlots,
    meters: Sequence[RegisteredMeter],
    window: tuple[datetime, datetime],
    read: Reader,
    say: Callable[[str], None] | None = None,
    what: str = "logs",
) -> LogResults:
    """Each meter's records for the window, read at once under the connection slots; `say`
    hears how far the read has got, as `what`."""
    by_endpoint: dict[MeterEndpoint, RegisteredMeter] = {meter.endpoint: meter for meter in meters}
    progress = Progress(what, total=len(by_endpoint))

    def finished(ok: bool) -> None:
        line = progress.record(ok, time.monotonic())
        if line and say:
            say(line)

    async def run() -> list[tuple[MeterEndpoint, list[Any] | EmopError]]:
        async with slots, EmopClient(settings, slots=slots) as client:

            async def one(endpoint: MeterEndpoint) -> list[Any]:
                try:
                    records = await read(client, by_endpoint[endpoint], window)
                except EmopError:
                    finished(ok=False)
                    raise
                finished(ok=True)
                return records

            return await client.for_each_meter(by_endpoint, one, group_of=esco_of(meters))

    return [(by_endpoint[endpoint], result) for endpoint, result in runner.run(run())]


def profile_rows(meter: RegisteredMeter, records: list[Any], loaded_at: datetime) -> list[tuple]:
    return [
        (
            meter.id, d.record.timestamp, meter.serial, d.record.status,
            d.record.import_a_wh, d.record.import_b_wh, d.conflicting, loaded_at,
        )
        for d in distinct_records(records)
    ]  # fmt: skip


def profile_2_rows(meter: RegisteredMeter, records: list[Any], loaded_at: datetime) -> list[tuple]:
    return [
        (
            meter.id, r.timestamp, meter.serial, r.status,
            r.active_export_a_wh, r.reactive_import_a_varh, r.reactive_export_a_varh,
            r.voltage_raw,
            r.active_export_b_wh, r.reactive_import_b_varh, r.reactive_export_b_varh,
            d.conflicting, loaded_at,
        )
        for d in distinct_records(records)
        for r in [d.record]
    ]  # fmt: skip


def event_rows(meter: RegisteredMeter, entries: list[Any], loaded_at: datetime) -> list[tuple]:
    # A page boundary can repeat an entry; the key must stay unique.
    unique = {(e.timestamp, e.event_id, e.event_set) for e in entries}
    return [
        (meter.id, ts, event_id, event_set, meter.serial, loaded_at)
        for ts, event_id, event_set in sorted(unique)
    ]
