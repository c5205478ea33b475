"""Transform benchmark: the incremental dbt run after one new sync, over D and 10 x D days,
and the Meter Domain page's queries on both histories.

For each history length (D and 10 x D days) a fresh scratch database on the configured server
(embedded unless FLOWS_DATABASE_URL is set) gets a registry of N meters and a sync every 15
minutes for that many days, ending now: balances drifting down with occasional top-ups, CSQ
mostly steady, voltage wandering, ~2% failed reads. After `dbt run --full-refresh` and an
untimed incremental warm-up, one new sync at a time is landed with the project's loader and the
`dbt run` that follows is timed (wall clock of the subprocess, dbt's start-up included). Then
each operator query (QUERIES) is timed for 25 sample meters. Prints the medians for both
lengths, their ratio against the target (<= 1.5), and dbt's per-model execution times from
run_results.json side by side. Loading the history is not timed.

    .venv/bin/python benchmarks/transform.py [--meters 1000] [--interval-minutes 15] [--days 1]
        [--factor 10] [--repeats 3] [--seed 1]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import operator
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sample_tariffs import FUTURE, TARIFF

from dagster_project.domain.registry import RegistryMeter
from dagster_project.paths import DBT_PROJECT_DIR
from dagster_project.settings import Settings
from dagster_project.warehouse import connection
from dagster_project.warehouse.embedded import EmbeddedServer
from dagster_project.warehouse.raw_tables import (
    METER_SYNC_SNAPSHOTS,
    METER_SYNCS,
    copy_rows,
    ensure_raw_tables,
)
from dagster_project.warehouse.registry_store import replace_registry
from dagster_project.warehouse.sync_store import SyncHeader, load_sync

ERRORS = (
    ("MeterTimeoutError", "no answer within 30 s"),
    ("ConnectionRefusedError", "connection refused"),
    ("FrameError", "bad CRC in response"),
)
EMERGENCY_CREDIT = Decimal("15.00000")
TWIN_ELEMENT = "C1.w"
SINGLE_ELEMENT = "B1.w"
FAILED_READ_RATE = 0.02
#: The meters of one sync are polled this far apart (1,000 meters in two minutes).
POLL_SPACING = timedelta(milliseconds=120)
#: Syncs of history landed per transaction (binary COPY of all their rows at once).
SYNCS_PER_BATCH = 96
#: D: one day of syncs, so the script takes about three minutes (--days 3, three versus
#: thirty days, about six).
DEFAULT_DAYS = 1.0

DBT = Path(sys.executable).with_name("dbt")
TARGET_PATH = "target/bench-transform"
RUN_RESULTS = DBT_PROJECT_DIR / TARGET_PATH / "run_results.json"
DBT_TIMEOUT_SECONDS = 3600
#: Marts whose row counts are printed: the incremental histories and the daily summary.
COUNTED_MARTS = (
    "meter_prepay_balance",
    "meter_csq",
    "meter_voltage",
    "meter_health_history",
    "daily_balance_summary",
)
#: The Meter Domain page's queries as operators and BI tools run them, plus the raw lookups the
#: marts are built from; `%(meter_id)s` and `%(serial)s` rotate over sample meters.
QUERIES = {
    "meter status (registry x shadows, by serial)": """
        select mr.serial, mr.name, ms.balance, ms.health, ms.csq, ms.updated_at
        from flows.meter_registry mr join flows.meter_shadows ms on mr.id = ms.id
        where mr.serial = %(serial)s""",
    "balance history, last 7 days": """
        select timestamp, balance, emergency_credit from flows.meter_prepay_balance
        where meter_id = %(meter_id)s and timestamp > now() - interval '7 days'
        order by timestamp desc""",
    "daily balance summary, last 30 days": """
        select date(timestamp) as day, min(balance), max(balance), avg(balance)
        from flows.meter_prepay_balance
        where meter_id = %(meter_id)s and timestamp > now() - interval '30 days'
        group by date(timestamp) order by day desc""",
    "meters under 5 GBP (meters_low_balance)": """
        select * from flows.meters_low_balance where balance < 5.00""",
    "offline over an hour (meters_offline_recently)": """
        select serial, last_online, extract(epoch from (now() - last_online)) / 60
        from flows.meters_offline_recently where last_online < now() - interval '1 hour'""",
    "tariffs of one meter (meter_shadows_tariffs)": """
        select * from flows.meter_shadows_tariffs where id = %(meter_id)s""",
    "raw: a meter's latest snapshot": """
        select * from flows_raw.meter_sync_snapshots where meter_id = %(meter_id)s
        order by polled_at desc limit 1""",
    "raw: a meter's snapshots of the last day": """
        select polled_at, balance from flows_raw.meter_sync_snapshots
        where meter_id = %(meter_id)s and polled_at > now() - interval '1 day'""",
}
QUERY_REPEATS = 25
SNAPSHOT_COLUMNS = METER_SYNC_SNAPSHOTS.column_names
ROW_VALUES = operator.itemgetter(*SNAPSHOT_COLUMNS)
EMPTY_ROW = dict.fromkeys(SNAPSHOT_COLUMNS)


@dataclass
class MeterState:
    """What a simulated meter reads now; advanced by one sync at a time."""

    balance_pence: int
    csq: int
    decivolts: int
    clock_diff: int
    import_a: int
    import_b: int


@dataclass
class HistoryResult:
    """The figures of one history length."""

    days: float
    syncs: int = 0
    snapshot_rows: int = 0
    load_seconds: float = 0.0
    full_refresh_seconds: float = 0.0
    warmup_seconds: float = 0.0
    run_seconds: list[float] = field(default_factory=list)
    model_seconds: list[dict[str, float]] = field(default_factory=list)
    mart_rows: dict[str, int] = field(default_factory=dict)
    #: Median milliseconds of each operator query (QUERIES) after the timed runs.
    query_ms: dict[str, float] = field(default_factory=dict)

    @property
    def median_run(self) -> float:
        return statistics.median(self.run_seconds)

    @property
    def median_model_sum(self) -> float:
        return statistics.median(sum(times.values()) for times in self.model_seconds)

    def median_model(self, name: str) -> float:
        return statistics.median(times.get(name, 0.0) for times in self.model_seconds)


class Fleet:
    """A fleet of simulated meters that answers one sync at a time with snapshot rows."""

    def __init__(self, meters: list[RegistryMeter], seed: int) -> None:
        self.meters = meters
        self.rng = random.Random(seed)
        self.states = [self._initial_state() for _ in meters]

    def _initial_state(self) -> MeterState:
        rng = self.rng
        return MeterState(
            balance_pence=rng.randint(500, 8000),
            csq=rng.randint(8, 28),
            decivolts=rng.randint(2280, 2420),
            clock_diff=rng.randint(-20, 20),
            import_a=rng.randint(1_000_000, 9_000_000),
            import_b=rng.randint(100_000, 900_000),
        )

    def sync(self, sync_id: uuid.UUID, started_at: datetime) -> tuple[list[tuple], int]:
        """The snapshot rows of one sync and how many of its reads failed."""
        rows = []
        failed = 0
        for n, (meter, state) in enumerate(zip(self.meters, self.states, strict=True)):
            polled_at = started_at + n * POLL_SPACING
            self._advance(state, meter.hardware == TWIN_ELEMENT)
            if self.rng.random() < FAILED_READ_RATE:
                failed += 1
                rows.append(self._failed_row(sync_id, meter, polled_at))
            else:
                rows.append(self._ok_row(sync_id, meter, state, polled_at))
        return rows, failed

    def _advance(self, state: MeterState, twin: bool) -> None:
        rng = self.rng
        if rng.random() < 0.8:  # consumption most syncs, a few pence
            state.balance_pence -= rng.randint(1, 8)
        if state.balance_pence < -1000 or rng.random() < 1 / 250:  # a top-up every ~2.6 days
            state.balance_pence += 100 * rng.choice((10, 20, 30, 50))
        if rng.random() < 0.05:
            state.csq = min(31, max(2, state.csq + rng.choice((-2, -1, 1, 2))))
        if rng.random() < 0.6:
            state.decivolts = min(2530, max(2160, state.decivolts + rng.randint(-3, 3)))
        if rng.random() < 0.02:
            state.clock_diff += rng.choice((-1, 1))
        used = rng.randint(0, 300)
        if twin and rng.random() < 0.3:
            state.import_b += used
        else:
            state.import_a += used

    def _base(self, sync_id: uuid.UUID, meter: RegistryMeter, polled_at: datetime) -> dict:
        return EMPTY_ROW | {
            "sync_id": sync_id,
            "meter_id": meter.id,
            "serial": meter.serial,
            "polled_at": polled_at,
        }

    def _failed_row(self, sync_id: uuid.UUID, meter: RegistryMeter, polled_at: datetime) -> tuple:
        error_class, error_message = self.rng.choice(ERRORS)
        values = self._base(sync_id, meter, polled_at)
        values |= {
            "finished_at": polled_at + timedelta(seconds=30),
            "outcome": "failed",
            "error_class": error_class,
            "error_message": error_message,
        }
        return ROW_VALUES(values)

    def _ok_row(
        self, sync_id: uuid.UUID, meter: RegistryMeter, state: MeterState, polled_at: datetime
    ) -> tuple:
        values = self._base(sync_id, meter, polled_at)
        values |= {
            "finished_at": polled_at + timedelta(seconds=48),
            "outcome": "ok",
            "balance": Decimal(state.balance_pence) / 100,
            "emergency_credit": EMERGENCY_CREDIT,
            "clock_time_diff_seconds": state.clock_diff,
            "meter_clock": polled_at + timedelta(seconds=state.clock_diff),
            "csq": state.csq,
            "csq_operator": 1,
            "voltage": Decimal(state.decivolts) / 10,
            "import_a": state.import_a,
            "export_a": 0,
            "reactive_import_a": state.import_a // 10,
            "reactive_export_a": 0,
            "import_b": state.import_b,
            "export_b": 0,
            "reactive_import_b": state.import_b // 10,
            "reactive_export_b": 0,
            "firmware": "3_02_0",
            "hardware": meter.hardware,
            "prepay_enabled": True,
            "dst_enabled": True,
            "tariffs_active": TARIFF,
            "tariffs_future": FUTURE,
        }
        return ROW_VALUES(values)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--interval-minutes", type=int, default=15, help="between syncs")
    parser.add_argument("--days", type=float, default=DEFAULT_DAYS, help="D, the shorter history")
    parser.add_argument("--factor", type=int, default=10, help="the longer history is D x this")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs, one new sync each")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


def registry_meters(count: int) -> list[RegistryMeter]:
    """Active prepayment meters, three in five twin-element (C1.w), on 127.0.x.y addresses."""
    esco = uuid.uuid5(uuid.NAMESPACE_URL, "flows-benchmark/esco")
    return [
        RegistryMeter(
            id=uuid.uuid5(uuid.NAMESPACE_URL, f"flows-benchmark/meter/{n}"),
            serial=f"EML{2300000000 + n:010d}",
            name=f"{n + 1} Benchmark Street",
            ip_address=ipaddress.ip_address(f"127.0.{10 + n // 250}.{n % 250 + 1}"),
            port=8080,
            hardware=TWIN_ELEMENT if n % 5 < 3 else SINGLE_ELEMENT,
            mode="active",
            esco=esco,
            single_meter_app=False,
            daylight_savings_correction_enabled=True,
            prepay_enabled=True,
            direction_reversed=False,
            row_number=n + 2,
        )
        for n in range(count)
    ]


def sync_times(first: datetime, count: int, interval: timedelta) -> list[datetime]:
    return [first + k * interval for k in range(count)]


def header_row(sync_id: uuid.UUID, started_at: datetime, meters: int, failed: int) -> tuple:
    """A flows_raw.meter_syncs row: (sync_id, started, finished, ok, failed, skipped, run_id,
    bucket), each sync of the whole fleet as one bucket."""
    finished_at = started_at + meters * POLL_SPACING + timedelta(seconds=48)
    return (sync_id, started_at, finished_at, meters - failed, failed, 0, "benchmark", "00-of-01")


def load_history(conn: psycopg.Connection, fleet: Fleet, times: Sequence[datetime]) -> int:
    """Land the history's syncs, many per transaction (binary COPY), and return the row count."""
    count = 0
    for start in range(0, len(times), SYNCS_PER_BATCH):
        rows: list[tuple] = []
        headers: list[tuple] = []
        for started_at in times[start : start + SYNCS_PER_BATCH]:
            sync_id = uuid.uuid4()
            sync_rows, failed = fleet.sync(sync_id, started_at)
            rows.extend(sync_rows)
            headers.append(header_row(sync_id, started_at, len(sync_rows), failed))
        with conn.transaction(), conn.cursor() as cursor:
            count += copy_rows(cursor, METER_SYNC_SNAPSHOTS, rows)
            copy_rows(cursor, METER_SYNCS, headers)
    return count


def load_new_sync(conn: psycopg.Connection, fleet: Fleet, started_at: datetime) -> None:
    """Land one sync the way the product does (load_sync: one transaction)."""
    sync_id = uuid.uuid4()
    rows, failed = fleet.sync(sync_id, started_at)
    load_sync(conn, SyncHeader(*header_row(sync_id, started_at, len(rows), failed)), rows)


def run_dbt(url: str, *args: str) -> float:
    """Run the dbt CLI on the database; return its wall-clock seconds (start-up included)."""
    env = {**os.environ, **connection.dbt_profile_env(url)}
    command = [str(DBT), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
               str(DBT_PROJECT_DIR), "--target-path", TARGET_PATH]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=DBT_TIMEOUT_SECONDS
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{result.stdout[-4000:]}")
    return elapsed


def model_times() -> dict[str, float]:
    """dbt's execution time per model of the last run (run_results.json), by model name."""
    results = json.loads(RUN_RESULTS.read_text())["results"]
    return {
        result["unique_id"].rsplit(".", 1)[-1]: result["execution_time"]
        for result in results
        if result["unique_id"].startswith("model.")
    }


def mart_rows(conn: psycopg.Connection) -> dict[str, int]:
    counts = {}
    for name in COUNTED_MARTS:
        query = sql.SQL("select count(*) from {}").format(sql.Identifier("flows", name))
        counts[name] = conn.execute(query).fetchone()[0]
    return counts


def snapshot_count(conn: psycopg.Connection) -> int:
    return conn.execute("select count(*) from flows_raw.meter_sync_snapshots").fetchone()[0]


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure(url: str, args: argparse.Namespace, days: float, now: datetime) -> HistoryResult:
    """Build one history in the (empty) database, then time the incremental runs."""
    result = HistoryResult(days=days)
    interval = timedelta(minutes=args.interval_minutes)
    history = round(timedelta(days=days) / interval)
    # The history ends so that the last new sync is polled at about now.
    first = now - (history + args.repeats - 1) * interval
    times = sync_times(first, history + args.repeats, interval)
    meters = registry_meters(args.meters)
    fleet = Fleet(meters, args.seed)
    # Autocommit: every load is its own transaction (load_sync's), committed before dbt runs.
    with connection.connect(url, autocommit=True) as conn:
        ensure_raw_tables(conn)
        replace_registry(conn, meters, [], "benchmark", now)
        log(f"{days:g} days: loading {history:,} syncs x {len(meters):,} meters ...")
        result.load_seconds = timed(lambda: load_history(conn, fleet, times[:history]))
        conn.execute("analyze flows_raw.meter_sync_snapshots, flows_raw.meter_syncs")
        conn.execute("analyze flows_raw.meter_registry")
        result.snapshot_rows = snapshot_count(conn)
        result.syncs = history
        log(f"{days:g} days: loaded in {result.load_seconds:.0f} s; dbt run --full-refresh ...")
        result.full_refresh_seconds = run_dbt(url, "run", "--full-refresh")
        log(f"{days:g} days: full refresh {result.full_refresh_seconds:.1f} s; warm-up run ...")
        result.warmup_seconds = run_dbt(url, "run")
        for started_at in times[history:]:
            load_new_sync(conn, fleet, started_at)
            result.run_seconds.append(run_dbt(url, "run"))
            result.model_seconds.append(model_times())
            log(f"{days:g} days: dbt run after one new sync {result.run_seconds[-1]:.2f} s")
        result.mart_rows = mart_rows(conn)
        conn.execute("analyze")
        result.query_ms = time_queries(conn, meters)
        log(f"{days:g} days: operator queries timed")
    return result


def time_queries(conn: psycopg.Connection, meters: Sequence[RegistryMeter]) -> dict[str, float]:
    """Median milliseconds of each query over QUERY_REPEATS runs, each for another meter,
    after one untimed run that warms the cache."""
    sample = random.Random(7).sample(list(meters), QUERY_REPEATS)
    medians = {}
    for label, query in QUERIES.items():
        conn.execute(query, {"meter_id": sample[0].id, "serial": sample[0].serial}).fetchall()
        times = []
        for meter in sample:
            params = {"meter_id": meter.id, "serial": meter.serial}
            started = time.perf_counter()
            conn.execute(query, params).fetchall()
            times.append((time.perf_counter() - started) * 1000)
        medians[label] = statistics.median(times)
    return medians


def in_scratch_database(server_url: str, action: Callable[[str], Any]) -> Any:
    """Run action(url) on a new database of the server, dropped afterwards even on error."""
    with connection.scratch_database(server_url, "flows_bench") as url:
        return action(url)


def log(message: str) -> None:
    print(message, flush=True)


def ratio(long: float, short: float) -> str:
    return f"{long / short:8.2f}" if short else f"{'-':>8}"


def report(args: argparse.Namespace, short: HistoryResult, long: HistoryResult) -> None:
    d, dd = f"D = {short.days:g} d", f"{args.factor}xD = {long.days:g} d"
    print(f"\n{args.meters:,} meters, a sync every {args.interval_minutes} min")
    print(f"{'':44} {d:>12} {dd:>14} {'ratio':>8}")

    def row(label: str, a: float, b: float, fmt: str) -> None:
        print(f"{label:44} {format(a, fmt):>12} {format(b, fmt):>14} {ratio(b, a)}")

    row("syncs of history", short.syncs, long.syncs, ",d")
    row("snapshot rows of history (flows_raw)", short.snapshot_rows, long.snapshot_rows, ",d")
    for name in COUNTED_MARTS:
        row(f"  rows in flows.{name}", short.mart_rows[name], long.mart_rows[name], ",d")
    row("history load (not measured), s", short.load_seconds, long.load_seconds, ".1f")
    row("dbt run --full-refresh, s", short.full_refresh_seconds, long.full_refresh_seconds, ".1f")
    row("warm-up dbt run, no new data, s", short.warmup_seconds, long.warmup_seconds, ".2f")
    for n, (a, b) in enumerate(zip(short.run_seconds, long.run_seconds, strict=True), 1):
        row(f"  incremental dbt run #{n} after one new sync, s", a, b, ".2f")
    row(f"INCREMENTAL dbt run, median of {args.repeats}, s", short.median_run, long.median_run,
        ".2f")  # fmt: skip
    row("  sum of per-model execution times, s", short.median_model_sum, long.median_model_sum,
        ".2f")  # fmt: skip
    verdict = "met" if long.median_run <= 1.5 * short.median_run else "NOT met"
    sql_verdict = "met" if long.median_model_sum <= 1.5 * short.median_model_sum else "NOT met"
    print(f"\ntarget: ratio <= 1.50. Wall clock: {verdict}; per-model SQL time: {sql_verdict}.")
    print("The wall clock includes dbt's start-up (parse, connection, hooks) in both runs.")
    print(f"\nper-model execution time, median of the {args.repeats} timed runs (run_results.json)")
    print(f"{'model':44} {d:>12} {dd:>14} {'ratio':>8}")
    names = sorted(
        set().union(*short.model_seconds, *long.model_seconds),
        key=lambda name: -long.median_model(name),
    )
    for name in names:
        row(f"  {name}", short.median_model(name), long.median_model(name), ".3f")
    print(f"\noperator queries, median of {QUERY_REPEATS} (another meter each time), ms")
    print(f"{'query':44} {d:>12} {dd:>14} {'ratio':>8}")
    for label in QUERIES:
        row(f"  {label}", short.query_ms[label], long.query_ms[label], ".2f")


def main() -> None:
    args = parse_args()
    settings = Settings.from_environment()
    embedded = EmbeddedServer(settings.state_dir)
    was_running = settings.database_url is None and embedded.status().running
    server = connection.resolve_database(settings)
    log(f"server: {server.display_url} ({'embedded' if server.embedded else 'configured'})")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    started = time.perf_counter()
    try:
        results = [
            in_scratch_database(server.url, lambda url, days=days: measure(url, args, days, now))
            for days in (args.days, args.days * args.factor)
        ]
    finally:
        if server.embedded and not was_running:
            embedded.stop()
    report(args, *results)
    print(f"\nwhole script: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
