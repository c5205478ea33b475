"""Snapshot ingest benchmark: the project's loader against the ways PostgreSQL can be fed.

Loads the same N meter_sync_snapshots rows (default 1,000,000, every column filled, tariffs as
JSONB) four ways, in one run, into a scratch database on the configured server (embedded unless
FLOWS_DATABASE_URL is set), and prints rows/s with ratios against the bare binary COPY:

- the project's loader (`load_sync`: delete the sync's window, binary COPY, sync header, one
  transaction) into flows_raw.meter_sync_snapshots;
- a bare psycopg binary COPY into an empty table of the same definition (keys and indexes);
- a server-side `COPY FROM` file (the floor: no client work at all);
- pandas `to_sql` with its default method.

    .venv/bin/python benchmarks/ingest.py [--rows 1000000] [--skip-pandas]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
from psycopg import sql
from sample_tariffs import FUTURE, TARIFF
from sqlalchemy import create_engine

from dagster_project.settings import Settings
from dagster_project.warehouse import connection
from dagster_project.warehouse.raw_tables import METER_SYNC_SNAPSHOTS, ensure_raw_tables
from dagster_project.warehouse.sync_store import SyncHeader, load_sync


def snapshot_rows(count: int, sync_id: uuid.UUID) -> list[tuple]:
    polled = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    rows = []
    for n in range(count):
        values = {
            "sync_id": sync_id,
            "meter_id": uuid.UUID(int=n + 1),
            "serial": f"EML{2200000000 + n:010d}",
            "polled_at": polled + timedelta(microseconds=n * 700),
            "finished_at": polled + timedelta(microseconds=n * 700 + 48_000_000),
            "outcome": "ok",
            "error_class": None,
            "error_message": None,
            "object_errors": None,
            "balance": Decimal(n % 5000) / 100 - 10,
            "emergency_credit": Decimal("15.00000"),
            "clock_time_diff_seconds": (n % 121) - 60,
            "meter_clock": polled + timedelta(seconds=n % 60),
            "csq": n % 32,
            "csq_operator": n % 3,
            "voltage": Decimal(2300 + n % 200) / 10,
            "import_a": 4_000_000 + n,
            "export_a": n % 1000,
            "reactive_import_a": 400_000 + n,
            "reactive_export_a": 0,
            "import_b": 800_000 + n,
            "export_b": 0,
            "reactive_import_b": 60_000 + n,
            "reactive_export_b": 0,
            "firmware": "3_02_0",
            "hardware": "C1.w",
            "prepay_enabled": True,
            "dst_enabled": n % 2 == 0,
            "tariffs_active": TARIFF,
            "tariffs_future": FUTURE,
        }
        rows.append(tuple(values[name] for name in METER_SYNC_SNAPSHOTS.column_names))
    return rows


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-pandas", action="store_true")
    args = parser.parse_args()

    server = connection.resolve_database(Settings.from_environment())
    scratch = f"flows_bench_{secrets.token_hex(3)}"
    with connection.connect(server.url, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(scratch)))
    url = connection.with_database(server.url, scratch)
    try:
        run(url, args.rows, args.skip_pandas)
    finally:
        with connection.connect(server.url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(scratch))
            )


def run(url: str, count: int, skip_pandas: bool) -> None:
    sync_id = uuid.uuid4()
    print(f"building {count:,} snapshot rows ...", flush=True)
    rows = snapshot_rows(count, sync_id)
    now = datetime.now(UTC)
    header = SyncHeader(sync_id, now, now, count, 0, 0, "benchmark")
    results: dict[str, float] = {}

    with connection.connect(url) as conn:
        ensure_raw_tables(conn)
        conn.execute("create table bare_copy (like flows_raw.meter_sync_snapshots including all)")
        conn.commit()

        results["bare binary COPY"] = timed(lambda: _bare_copy(conn, rows))
        results["project loader"] = timed(lambda: load_sync(conn, header, rows))
        # The same sync again: the loader's delete-then-copy window, as a re-run pays it.
        results["project loader, re-run"] = timed(lambda: load_sync(conn, header, rows))

        csv_path = _write_csv(rows)
        try:
            conn.execute(
                "create table server_copy (like flows_raw.meter_sync_snapshots including all)"
            )
            conn.commit()
            results["server-side COPY FROM file"] = timed(lambda: _server_copy(conn, csv_path))
        finally:
            csv_path.unlink()

    if not skip_pandas:
        results["pandas to_sql"] = timed(lambda: _pandas(url, rows))

    baseline = count / results["bare binary COPY"]
    print(f"\n{count:,} rows, {len(METER_SYNC_SNAPSHOTS.columns)} columns (JSONB tariffs)")
    print(f"{'method':32} {'seconds':>8} {'rows/s':>10} {'vs bare COPY':>13}")
    for name, seconds in results.items():
        rate = count / seconds
        print(f"{name:32} {seconds:8.2f} {rate:10,.0f} {rate / baseline:13.2f}")


def _bare_copy(conn, rows: list[tuple]) -> None:
    with (
        conn.transaction(),
        conn.cursor() as cursor,
        cursor.copy(
            sql.SQL("copy bare_copy ({}) from stdin (format binary)").format(
                sql.SQL(", ").join(map(sql.Identifier, METER_SYNC_SNAPSHOTS.column_names))
            )
        ) as copy,
    ):
        copy.set_types([column.type for column in METER_SYNC_SNAPSHOTS.columns])
        for row in rows:
            copy.write_row(row)


def _write_csv(rows: list[tuple]) -> Path:
    handle, name = tempfile.mkstemp(suffix=".csv")
    path = Path(name)
    with os.fdopen(handle, "w", newline="") as out:
        writer = csv.writer(out)
        for row in rows:
            writer.writerow(
                ["" if v is None else json.dumps(v) if isinstance(v, dict) else v for v in row]
            )
    path.chmod(0o644)  # the server may run as another OS user
    return path


def _server_copy(conn, path: Path) -> None:
    with conn.transaction():
        conn.execute(
            sql.SQL("copy server_copy ({}) from {} (format csv)").format(
                sql.SQL(", ").join(map(sql.Identifier, METER_SYNC_SNAPSHOTS.column_names)),
                sql.Literal(str(path)),
            )
        )


def _pandas(url: str, rows: list[tuple]) -> None:
    frame = pd.DataFrame(rows, columns=list(METER_SYNC_SNAPSHOTS.column_names))
    for column in ("object_errors", "tariffs_active", "tariffs_future"):
        frame[column] = frame[column].map(lambda v: None if v is None else json.dumps(v))
    engine = create_engine(connection.sqlalchemy_url(url))
    with engine.begin() as conn:
        frame.to_sql("pandas_to_sql", conn, if_exists="replace", index=False)
    engine.dispose()


if __name__ == "__main__":
    main()
