"""Energy benchmark: one UTC day of half-hourly profile logs landed by the project's loader
against a bare binary COPY, the incremental energy build of that day, and its cost with a short
versus a long history.

A fresh scratch database on the configured server (embedded unless FLOWS_DATABASE_URL is set)
gets a registry of N twin-element meters (C1.w: registers A and B) and a history of profile-log
days generated server-side (INSERT ... SELECT from generate_series), each day loaded the morning
after it (loaded_at D+1 01:30 UTC) like the daily download. Registers are cumulative Wh: A grows
50-500 Wh a half-hour, B at night, export on one meter in twenty (solar); one meter in 200
skips three half-hours a day, so estimation runs too. After an untimed build of the history
(`dbt run --select int_energy_loads+`, meter_registers and the other marts built before) and
an untimed warm-up day, each new day is generated in Python and landed with load_profile_log_1
and load_profile_log_2 (the window [day, next day 00:30): 49 records per meter per log), each
timed against a binary COPY of the same rows into a plain unindexed table of the same columns,
and the build that follows is timed (wall clock of the dbt subprocess, start-up included), with
dbt's per-model times from run_results.json.

Targets: the loader at >= 0.8 of the bare COPY's rows/s; the build of one new day <= 120 s at
--meters; the build with --long-days of history <= 1.3 x the one with --short-days, measured at
--flat-meters meters (default: --meters).

--main-days sets the history of targets 1 and 2 (default --short-days); --flat-meters 0 skips
target 3; --dbt-project builds another copy of the dbt project (one with a proposed change) to
compare with this one's.

    .venv/bin/python benchmarks/energy.py [--meters 100000] [--flat-meters 10000]
        [--main-days 3] [--short-days 3] [--long-days 30] [--repeats 1] [--dbt-project DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from dagster_project.domain.registry import RegistryMeter
from dagster_project.paths import DBT_PROJECT_DIR
from dagster_project.settings import Settings
from dagster_project.warehouse import connection, partitions
from dagster_project.warehouse.embedded import EmbeddedServer
from dagster_project.warehouse.raw_tables import (
    PROFILE_LOG_1,
    PROFILE_LOG_2,
    RAW_SCHEMA,
    RawTable,
    copy_rows,
    ensure_raw_tables,
)
from dagster_project.warehouse.registry_store import replace_registry
from dagster_project.warehouse.sync_store import load_profile_log_1, load_profile_log_2

TWIN_ELEMENT = "C1.w"
HALF_HOUR = timedelta(minutes=30)
#: Half-hour k of the synthetic registers counts from here (keeps the Wh well under 2^32).
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
#: The daily download lands the day the morning after.
LOADED_AFTER_DAY = timedelta(days=1, hours=1, minutes=30)
#: Night (element B) and solar half-hours of the UTC day, by index 0-47.
NIGHT_HALF_HOURS = 14
SOLAR_FROM, SOLAR_TO = 20, 30
#: One meter in SKIP_EVERY skips the records of these half-hours every day.
SKIP_EVERY, SKIP_REMAINDER, SKIPPED = 200, 7, (18, 19, 20)
SOLAR_EVERY, SOLAR_REMAINDER = 20, 3

LOAD_TARGET = 0.8
BUILD_TARGET_SECONDS = 120.0
FLAT_TARGET = 1.3

DBT = Path(sys.executable).with_name("dbt")
TARGET_PATH = "target/bench-energy"
DBT_TIMEOUT_SECONDS = 7200
ENERGY = "int_energy_loads+"
COUNTED = ("register_interval_hh", "register_interval_daily", "meter_consumption_daily")

# The synthetic registers of meter n at half-hour k (since EPOCH), the same in SQL and Python.
SQL_REGISTERS = f"""
    ((k * k + n * 7919) * 31 % 1000003) % 101 as j,
    (k / 48) * {NIGHT_HALF_HOURS} + least(k % 48, {NIGHT_HALF_HOURS}) as nights,
    (k / 48) * {SOLAR_TO - SOLAR_FROM}
    + greatest(0, least(k % 48, {SOLAR_TO}) - {SOLAR_FROM}) as suns"""


def import_a(n: int, k: int) -> int:
    jitter = ((k * k + n * 7919) * 31 % 1000003) % 101
    return 1_000_000 + (n * 7919) % 8_000_000 + (150 + (n * 37) % 250) * k + jitter


def import_b(n: int, k: int) -> int:
    nights = (k // 48) * NIGHT_HALF_HOURS + min(k % 48, NIGHT_HALF_HOURS)
    return 100_000 + (n * 104729) % 900_000 + (20 + (n * 53) % 180) * nights


def export_a(n: int, k: int) -> int:
    if n % SOLAR_EVERY != SOLAR_REMAINDER:
        return 0
    suns = (k // 48) * (SOLAR_TO - SOLAR_FROM) + max(0, min(k % 48, SOLAR_TO) - SOLAR_FROM)
    return (100 + n % 400) * suns


def skipped(n: int, k: int) -> bool:
    return n % SKIP_EVERY == SKIP_REMAINDER and k % 48 in SKIPPED


@dataclass
class LoadResult:
    """One log's timed landing: rows, seconds through the loader and through a bare COPY."""

    table: str
    rows: int
    loader_seconds: float
    bare_seconds: float

    @property
    def loader_rate(self) -> float:
        return self.rows / self.loader_seconds

    @property
    def bare_rate(self) -> float:
        return self.rows / self.bare_seconds


@dataclass
class RunResult:
    """The figures of one fleet size and history length."""

    meters: int
    history_days: int
    history_rows: int = 0
    history_load_seconds: float = 0.0
    history_build_seconds: float = 0.0
    warmup_seconds: float = 0.0
    loads: list[list[LoadResult]] = field(default_factory=list)
    build_seconds: list[float] = field(default_factory=list)
    model_seconds: list[dict[str, float]] = field(default_factory=list)
    mart_rows: dict[str, int] = field(default_factory=dict)

    @property
    def median_build(self) -> float:
        return statistics.median(self.build_seconds)

    def median_model(self, name: str) -> float:
        return statistics.median(times.get(name, 0.0) for times in self.model_seconds)

    @property
    def median_model_sum(self) -> float:
        return statistics.median(sum(times.values()) for times in self.model_seconds)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=100_000, help="fleet of targets 1 and 2")
    parser.add_argument(
        "--flat-meters",
        type=int,
        default=None,
        help="fleet of the flatness target (3); 0 skips it; default --meters",
    )
    parser.add_argument(
        "--main-days", type=int, default=None, help="history of targets 1 and 2 (--short-days)"
    )
    parser.add_argument("--short-days", type=int, default=3)
    parser.add_argument("--long-days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=1, help="timed new days per history")
    parser.add_argument(
        "--dbt-project",
        type=Path,
        default=DBT_PROJECT_DIR,
        help="the dbt project to build (a copy with a proposed change, to compare)",
    )
    return parser.parse_args()


def registry_meters(count: int) -> list[RegistryMeter]:
    """Active prepayment meters, all twin-element, on 127.x.y.z addresses."""
    esco = uuid.uuid5(uuid.NAMESPACE_URL, "flows-benchmark/esco")
    first_address = int(ipaddress.IPv4Address("127.1.0.1"))
    return [
        RegistryMeter(
            id=uuid.uuid5(uuid.NAMESPACE_URL, f"flows-benchmark/meter/{n}"),
            serial=f"EML{2300000000 + n:010d}",
            name=f"{n + 1} Benchmark Street",
            ip_address=ipaddress.ip_address(first_address + n),
            port=8080,
            hardware=TWIN_ELEMENT,
            mode="active",
            esco=esco,
            single_meter_app=False,
            daylight_savings_correction_enabled=True,
            prepay_enabled=True,
            direction_reversed=False,
            installation_status="enabled",
            row_number=n + 2,
        )
        for n in range(count)
    ]


def half_hour_index(at: datetime) -> int:
    return int((at - EPOCH) / HALF_HOUR)


def day_start(day: date) -> datetime:
    return datetime.combine(day, clock(), tzinfo=UTC)


def day_window(day: date) -> tuple[datetime, datetime]:
    """The loader's window of one day: its half-hours and the record closing the last one."""
    return day_start(day), day_start(day) + timedelta(days=1) + HALF_HOUR


def day_rows(
    meters: Sequence[RegistryMeter], day: date, loaded_at: datetime
) -> tuple[list[tuple], list[tuple]]:
    """The rows of both profile logs for one day's download, in their tables' column order."""
    times = [day_start(day) + j * HALF_HOUR for j in range(49)]
    log_1: list[tuple] = []
    log_2: list[tuple] = []
    for n, meter in enumerate(meters):
        for at in times:
            k = half_hour_index(at)
            if skipped(n, k):
                continue
            a = import_a(n, k)
            log_1.append((meter.id, at, meter.serial, 0, a, import_b(n, k), False, loaded_at))
            log_2.append(
                (meter.id, at, meter.serial, 0, export_a(n, k), a // 10, 0,
                 2300 + (k + n) % 100, 0, import_b(n, k) // 10, 0, False, loaded_at)
            )  # fmt: skip
    return log_1, log_2


def create_meter_table(conn: psycopg.Connection, meters: Sequence[RegistryMeter]) -> None:
    """bench.meters: each meter's number n, id and serial, for the SQL that makes history."""
    conn.execute("create schema if not exists bench")
    conn.execute("create table bench.meters (n int8 primary key, meter_id uuid, serial text)")
    with conn.cursor() as cursor, cursor.copy("copy bench.meters from stdin") as copy:
        for n, meter in enumerate(meters):
            copy.write_row((n, meter.id, meter.serial))
    conn.execute("analyze bench.meters")


def history_insert(table: RawTable) -> sql.Composed:
    """INSERT ... SELECT of one day's records of a log for every meter: %(first)s to
    %(last)s, loaded at %(loaded_at)s."""
    if table is PROFILE_LOG_1:
        values = """0, 1000000 + (n * 7919) % 8000000 + (150 + (n * 37) % 250) * k + j,
            100000 + (n * 104729) % 900000 + (20 + (n * 53) % 180) * nights"""
    else:
        values = f"""0,
            case when n % {SOLAR_EVERY} = {SOLAR_REMAINDER} then (100 + n % 400) * suns else 0 end,
            (1000000 + (n * 7919) % 8000000 + (150 + (n * 37) % 250) * k + j) / 10, 0,
            2300 + (k + n) % 100, 0,
            (100000 + (n * 104729) % 900000 + (20 + (n * 53) % 180) * nights) / 10, 0"""
    columns = sql.SQL(", ").join(map(sql.Identifier, table.column_names))
    return sql.SQL(
        """insert into {table} ({columns})
        select meter_id, at, serial, {values}, false, %(loaded_at)s
        from bench.meters
        cross join generate_series(%(first)s::timestamptz, %(last)s, interval '30 minutes') as at
        cross join lateral (
            select (extract(epoch from at - %(epoch)s::timestamptz) / 1800)::int8 as k
        ) as half_hour
        cross join lateral (select {registers}) as derived
        where not (n %% {every} = {remainder} and k %% 48 in ({skipped}))"""
    ).format(
        table=table.identifier,
        columns=columns,
        values=sql.SQL(values.replace("%", "%%")),
        registers=sql.SQL(SQL_REGISTERS.replace("%", "%%")),
        every=sql.Literal(SKIP_EVERY),
        remainder=sql.Literal(SKIP_REMAINDER),
        skipped=sql.SQL(", ").join(map(sql.Literal, SKIPPED)),
    )


def load_history(conn: psycopg.Connection, days: Sequence[date]) -> int:
    """Each history day's records, loaded the morning after it; the last day's closing
    record with it. Returns the rows landed per log."""
    rows = 0
    for number, day in enumerate(days, 1):
        last = day_start(day) + timedelta(days=1) - HALF_HOUR
        if day == days[-1]:
            last += HALF_HOUR
        params = {"first": day_start(day), "last": last, "epoch": EPOCH,
                  "loaded_at": day_start(day) + LOADED_AFTER_DAY}  # fmt: skip
        for table in (PROFILE_LOG_1, PROFILE_LOG_2):
            rows += conn.execute(history_insert(table), params).rowcount
            # The load's entry in the ledger, as the project's loader writes it.
            conn.execute(
                "insert into flows_raw.profile_log_loads (load_id, log, window_start, window_end, "
                "meter_ids, first_record_at, last_record_at, row_count, loaded_at) "
                "select %(load_id)s, %(log)s, %(first)s, "
                "%(last)s::timestamptz + interval '30 minutes', "
                "array(select meter_id from bench.meters), %(first)s, %(last)s, 0, %(loaded_at)s",
                {**params, "load_id": uuid.uuid4(), "log": table.name},
            )
        log(f"    history day {number}/{len(days)} ({day}) landed, {rows // 2:,} rows per log")
    return rows // 2


def bare_table(table: RawTable) -> RawTable:
    """A plain table of the same columns: no key, no index, no partitions."""
    return RawTable(f"bare_{table.name}", table.columns)


def checkpoint(conn: psycopg.Connection) -> None:
    """Start each timed load with no dirty buffers left from the last one (superuser only)."""
    with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
        conn.execute("checkpoint")


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def timed_load(
    conn: psycopg.Connection,
    table: RawTable,
    loader: Callable[..., int],
    window: tuple[datetime, datetime],
    meter_ids: list[uuid.UUID],
    rows: list[tuple],
) -> LoadResult:
    """The same rows through a bare binary COPY (truncated after) and through the loader."""
    bare = bare_table(table)
    conn.execute(bare.create_statement())

    def bare_copy() -> None:
        with conn.transaction(), conn.cursor() as cursor:
            copy_rows(cursor, bare, rows)

    checkpoint(conn)
    bare_seconds = timed(bare_copy)
    conn.execute(sql.SQL("truncate {}").format(bare.identifier))
    checkpoint(conn)
    loader_seconds = timed(lambda: loader(conn, window, meter_ids, rows))
    return LoadResult(table.name, len(rows), loader_seconds, bare_seconds)


def load_day(
    conn: psycopg.Connection, meters: Sequence[RegistryMeter], day: date
) -> list[LoadResult]:
    """One day's download through the project's loader, each log timed against a bare COPY."""
    log(f"    generating {day} in Python ...")
    # Loaded the morning after, like the history.
    log_1, log_2 = day_rows(meters, day, day_start(day) + LOADED_AFTER_DAY)
    meter_ids = [meter.id for meter in meters]
    window = day_window(day)
    results = [timed_load(conn, PROFILE_LOG_1, load_profile_log_1, window, meter_ids, log_1)]
    del log_1
    results.append(timed_load(conn, PROFILE_LOG_2, load_profile_log_2, window, meter_ids, log_2))
    for result in results:
        log(f"    {result.table}: {result.rows:,} rows, loader {result.loader_rate:,.0f} rows/s,"
            f" bare COPY {result.bare_rate:,.0f} rows/s")  # fmt: skip
    conn.execute("analyze flows_raw.profile_log_1, flows_raw.profile_log_2")
    return results


def run_dbt(project: Path, url: str, *args: str) -> float:
    """Run the dbt CLI of a project on the database; return its wall-clock seconds (start-up
    included)."""
    env = {**os.environ, **connection.dbt_profile_env(url)}
    command = [str(DBT), *args, "--project-dir", str(project), "--profiles-dir",
               str(project), "--target-path", TARGET_PATH]  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=DBT_TIMEOUT_SECONDS
    )
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{result.stdout[-4000:]}")
    return elapsed


def model_times(project: Path) -> dict[str, float]:
    """dbt's execution time per model of the last run (run_results.json), by model name."""
    results = json.loads((project / TARGET_PATH / "run_results.json").read_text())["results"]
    return {
        result["unique_id"].rsplit(".", 1)[-1]: result["execution_time"]
        for result in results
        if result["unique_id"].startswith("model.")
    }


def prepare(conn: psycopg.Connection, meters: list[RegistryMeter], first: date) -> None:
    """Raw tables with partitions back to the first history day, the registry, bench.meters."""
    today = datetime.now(UTC).date()
    ensure_raw_tables(conn, today)
    months = partitions.months_between(first, today)
    with conn.transaction():
        for table in (PROFILE_LOG_1, PROFILE_LOG_2):
            partitions.ensure_month_partitions(conn, RAW_SCHEMA, table.name, months)
    replace_registry(conn, meters, [], "benchmark", datetime.now(UTC))
    create_meter_table(conn, meters)
    conn.execute("analyze")


def measure(
    project: Path, url: str, meter_count: int, history_days: int, repeats: int, load: bool
) -> RunResult:
    """History, its build, a warm-up day, then `repeats` new days each loaded and built."""
    result = RunResult(meters=meter_count, history_days=history_days)
    meters = registry_meters(meter_count)
    today = datetime.now(UTC).date()
    new_days = [today - timedelta(days=repeats - r) for r in range(repeats)]
    warmup_day = new_days[0] - timedelta(days=1)
    history = [warmup_day - timedelta(days=history_days - d) for d in range(history_days)]
    tag = f"{meter_count:,} meters x {history_days} days"
    with connection.connect(url, autocommit=True) as conn:
        conn.execute("set timezone = 'UTC'")
        prepare(conn, meters, history[0])
        log(f"{tag}: meter_registers and the other marts (untimed) ...")
        run_dbt(project, url, "run", "--exclude", ENERGY)
        log(f"{tag}: landing {len(history)} days of history server-side ...")
        started = time.monotonic()
        result.history_rows = load_history(conn, history)
        conn.execute("analyze flows_raw.profile_log_1, flows_raw.profile_log_2")
        result.history_load_seconds = time.monotonic() - started
        log(f"{tag}: history landed in {result.history_load_seconds:.0f} s; building it ...")
        result.history_build_seconds = run_dbt(project, url, "run", "--select", ENERGY)
        log(f"{tag}: history built in {result.history_build_seconds:.0f} s; warm-up day ...")
        load_day(conn, meters, warmup_day)
        result.warmup_seconds = run_dbt(project, url, "run", "--select", ENERGY)
        log(f"{tag}: warm-up build {result.warmup_seconds:.1f} s")
        for day in new_days:
            loads = load_day(conn, meters, day)
            if load:
                result.loads.append(loads)
            result.build_seconds.append(run_dbt(project, url, "run", "--select", ENERGY))
            result.model_seconds.append(model_times(project))
            log(f"{tag}: new day {day} built in {result.build_seconds[-1]:.1f} s")
        for name in COUNTED:
            query = sql.SQL("select count(*) from {}").format(sql.Identifier("flows", name))
            result.mart_rows[name] = conn.execute(query).fetchone()[0]
    return result


def in_scratch_database(server_url: str, action: Callable[[str], Any]) -> Any:
    """Run action(url) on a new database of the server, dropped afterwards even on error."""
    with connection.scratch_database(server_url, "flows_bench_energy") as url:
        return action(url)


def log(message: str) -> None:
    print(message, flush=True)


def verdict(met: bool) -> str:
    return "PASS" if met else "MISS"


def report_load(main: RunResult) -> None:
    print(f"\n1. raw load of one day, {main.meters:,} meters ({2 * main.meters:,} registers)")
    print(f"{'log':16} {'rows':>12} {'loader rows/s':>14} {'bare COPY rows/s':>17} {'ratio':>7}")
    rows = sum(result.rows for result in main.loads[0])
    loader = sum(result.loader_seconds for result in main.loads[0])
    bare = sum(result.bare_seconds for result in main.loads[0])
    for result in main.loads[0]:
        share = result.loader_rate / result.bare_rate
        print(f"{result.table:16} {result.rows:>12,} {result.loader_rate:>14,.0f}"
              f" {result.bare_rate:>17,.0f} {share:>7.2f}")  # fmt: skip
    ratio = bare / loader
    print(f"{'both logs':16} {rows:>12,} {rows / loader:>14,.0f} {rows / bare:>17,.0f}"
          f" {ratio:>7.2f}")  # fmt: skip
    print(f"target: loader >= {LOAD_TARGET} x bare COPY: {verdict(ratio >= LOAD_TARGET)}")


def report_build(main: RunResult) -> None:
    build = main.build_seconds[0]
    print(f"\n2. incremental build of the new day, {main.meters:,} meters, "
          f"{main.history_days} days of history: dbt run --select {ENERGY}")  # fmt: skip
    print(
        f"   wall clock {build:.1f} s (dbt start-up included); "
        f"target <= {BUILD_TARGET_SECONDS:.0f} s: {verdict(build <= BUILD_TARGET_SECONDS)}"
    )
    for name, seconds in sorted(main.model_seconds[0].items(), key=lambda item: -item[1]):
        print(f"   {name:40} {seconds:8.2f} s")
    for name, count in main.mart_rows.items():
        print(f"   rows in flows.{name:27} {count:>12,}")


def report_flat(short: RunResult, long: RunResult) -> None:
    print(f"\n3. build of one new day, {short.meters:,} meters, "
          f"{short.history_days} vs {long.history_days} days of history")  # fmt: skip
    a, b = f"{short.history_days} days", f"{long.history_days} days"
    print(f"{'':40} {a:>10} {b:>10} {'ratio':>7}")

    def row(label: str, x: float, y: float, fmt: str) -> None:
        print(f"{label:40} {format(x, fmt):>10} {format(y, fmt):>10} {y / x if x else 0:>7.2f}")

    row("history rows per log", short.history_rows, long.history_rows, ",d")
    row("history load (untimed), s", short.history_load_seconds, long.history_load_seconds, ".0f")
    row("history build (untimed), s", short.history_build_seconds,
        long.history_build_seconds, ".0f")  # fmt: skip
    row("warm-up day build (untimed), s", short.warmup_seconds, long.warmup_seconds, ".1f")
    for n, (x, y) in enumerate(zip(short.build_seconds, long.build_seconds, strict=True), 1):
        row(f"  new day #{n} build, s", x, y, ".1f")
    row(f"new day build, median of {len(short.build_seconds)}, s", short.median_build,
        long.median_build, ".1f")  # fmt: skip
    row("  sum of per-model times, s", short.median_model_sum, long.median_model_sum, ".1f")
    names = sorted(set().union(*long.model_seconds), key=lambda name: -long.median_model(name))
    for name in names:
        row(f"  {name}", short.median_model(name), long.median_model(name), ".2f")
    ratio = long.median_build / short.median_build
    print(f"target: ratio <= {FLAT_TARGET}: {verdict(ratio <= FLAT_TARGET)} ({ratio:.2f})")


def main() -> None:
    args = parse_args()
    flat_meters = args.meters if args.flat_meters is None else args.flat_meters
    settings = Settings.from_environment()
    embedded = EmbeddedServer(settings.state_dir)
    was_running = settings.database_url is None and embedded.status().running
    server = connection.resolve_database(settings)
    log(f"server: {server.display_url} ({'embedded' if server.embedded else 'configured'})")
    log(f"dbt project: {args.dbt_project}")
    started = time.monotonic()

    def run(meters: int, days: int, load: bool) -> RunResult:
        return in_scratch_database(
            server.url, lambda url: measure(args.dbt_project, url, meters, days, args.repeats, load)
        )

    try:
        main_run = run(args.meters, args.main_days or args.short_days, True)
        short = long = None
        if flat_meters > 0:
            same = flat_meters == args.meters and main_run.history_days == args.short_days
            short = main_run if same else run(flat_meters, args.short_days, False)
            long = run(flat_meters, args.long_days, False)
    finally:
        if server.embedded and not was_running:
            embedded.stop()
    report_load(main_run)
    report_build(main_run)
    if short is not None and long is not None:
        report_flat(short, long)
    if 0 < flat_meters != args.meters:
        print(f"(the flatness ratio is measured at {flat_meters:,} meters, not {args.meters:,})")
    print(f"dbt project built: {args.dbt_project}")
    print(f"\nwhole script: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
