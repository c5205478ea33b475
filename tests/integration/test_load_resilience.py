"""Loads survive the database going away: nothing partial is committed, and the re-run lands
every row exactly once. The server here is a private embedded one, stopped mid-COPY."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from dagster_project.warehouse import connection
from dagster_project.warehouse.embedded import EmbeddedServer
from dagster_project.warehouse.raw_tables import METER_SYNC_SNAPSHOTS, ensure_raw_tables
from dagster_project.warehouse.sync_store import SyncHeader, load_sync
from tests.support.settings import current_settings

ROWS = 30_000


@pytest.fixture
def private_server() -> Iterator[EmbeddedServer]:
    # Inside the checkout's state folder: as root the server runs as another OS user.
    server = EmbeddedServer(current_settings().state_dir / f"test-restart-{uuid.uuid4().hex[:8]}")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.state_dir, ignore_errors=True)


def header(sync_id: uuid.UUID) -> SyncHeader:
    now = datetime.now(UTC)
    return SyncHeader(sync_id, now, now, ROWS, 0, 0, "test-run")


def snapshot_rows(
    sync_id: uuid.UUID, stop: EmbeddedServer | None = None, after: int | None = None
) -> Iterator[tuple]:
    polled = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    values = dict.fromkeys(METER_SYNC_SNAPSHOTS.column_names)
    for number in range(ROWS):
        if stop is not None and number == after:
            stop.stop()  # the database goes away mid-load
        values.update(
            sync_id=sync_id,
            meter_id=uuid.UUID(int=number + 1),
            serial=f"EML{number:010d}",
            polled_at=polled + timedelta(milliseconds=number),
            outcome="ok",
            balance=Decimal(number) / 100,
            csq=number % 32,
            tariffs_active={"standing_charge": 0.51082, "unit_rate_element_a": 0.2843},
        )
        yield tuple(values[name] for name in METER_SYNC_SNAPSHOTS.column_names)


def counts(url: str, sync_id: uuid.UUID) -> tuple[int, int]:
    with connection.connect(url) as conn:
        snapshots = conn.execute(
            "select count(*) from flows_raw.meter_sync_snapshots where sync_id = %s", (sync_id,)
        ).fetchone()[0]
        headers = conn.execute(
            "select count(*) from flows_raw.meter_syncs where sync_id = %s", (sync_id,)
        ).fetchone()[0]
    return snapshots, headers


def test_server_stopped_mid_load_commits_nothing_and_the_rerun_lands_once(
    private_server: EmbeddedServer,
) -> None:
    url = private_server.start()
    with connection.connect(url) as conn:
        ensure_raw_tables(conn)
    sync_id = uuid.uuid4()

    with pytest.raises(psycopg.OperationalError), connection.connect(url) as conn:
        load_sync(conn, header(sync_id), snapshot_rows(sync_id, private_server, after=ROWS // 2))
    assert not private_server.status().running

    private_server.start()
    assert counts(url, sync_id) == (0, 0)

    for _ in range(2):  # the re-run, and a re-run of the re-run
        with connection.connect(url) as conn:
            assert load_sync(conn, header(sync_id), snapshot_rows(sync_id)) == ROWS
        assert counts(url, sync_id) == (ROWS, 1)
