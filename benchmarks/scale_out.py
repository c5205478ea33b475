"""Scale-out benchmark: how the fleet sync splits over run workers, and one worker's share.

1. The split: N meters with random (uuid4) ids, as the registry hands them out, hashed into 4,
   8, 16, 32 and 64 buckets: meters per bucket (mean, min, max, max/mean).
2. One worker's share, for real: a simulated fleet of N meters (several simulator processes)
   with a round trip of --rtt seconds, its registry loaded into a scratch database by the
   registry asset, then `meter_sync` materialized in a fresh worker process (as a run worker
   is) for ONE bucket of --buckets ("00-of-16"), and, as the baseline measured in the same
   script, for a share twice as large (the range "00-of-16".."01-of-16" in one run). EMOP as
   in production: --gap seconds between requests to a meter, one connection per meter read,
   and every meter of the share in progress at once. Measured per run: wall time, the worker's
   CPU seconds and peak RSS, the simulator's CPU seconds, rows landed, and the asset's phases
   (registry read, picking the bucket's meters, polling, building rows, the COPY). Then the
   ratios of the two runs and the workers needed for N meters every 15 minutes.

Run by hand; the database is a scratch one on the embedded server of FLOWS_STATE_DIR (started
and stopped here if it was not running) or on FLOWS_DATABASE_URL, dropped afterwards:

    FLOWS_STATE_DIR=/tmp/flows-bench-scale .venv/bin/python benchmarks/scale_out.py \
        [--meters 100000] [--buckets 16] [--rtt 0.3] [--gap 2.0] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

from dagster_project.domain.fleet_buckets import bucket_sizes

SPLIT_COUNTS = (4, 8, 16, 32, 64)
CYCLE_SECONDS = 15 * 60
#: read_state's requests per meter (as in fleet_poll.py): 11 single objects, 6 + 7 tariff ones.
REQUESTS_PER_READ = 24
#: Each simulator process holds one listening socket per meter plus one per connection in
#: progress, under this machine's 20,000 file-descriptor limit (as fleet_poll.py reckons).
METERS_AND_CONNECTIONS_PER_PROCESS = 12_000
WORKER_TIMEOUT_SECONDS = 3600
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: Dagster's console log at warnings only: the registry load is set-up, not measured.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
ROW_COUNTS = """
    select count(*),
           count(*) filter (where snap.outcome = 'ok'),
           count(*) filter (where snap.outcome = 'failed'),
           count(*) filter (where snap.outcome = 'skipped'),
           count(distinct s.sync_id)
    from flows_raw.meter_syncs as s
    join flows_raw.meter_sync_snapshots as snap using (sync_id)
    where s.run_id = %s
"""
TOP_ERRORS = """
    select snap.error_class, left(snap.error_message, 80), count(*)
    from flows_raw.meter_syncs as s
    join flows_raw.meter_sync_snapshots as snap using (sync_id)
    where s.run_id = %s and snap.outcome = 'failed'
    group by 1, 2 order by 3 desc limit 5
"""

T = TypeVar("T")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--buckets", type=int, default=16, help="the split a worker's share is of")
    parser.add_argument("--rtt", type=float, default=0.3, help="simulated round trip, seconds")
    parser.add_argument("--gap", type=float, default=2.0, help="spacing between requests, seconds")
    parser.add_argument("--seed", type=int, default=1)
    # Internal: the measured run, in a process of its own (see run_worker).
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args()


def log(message: str) -> None:
    print(message, flush=True)


# --- 1. the split ----------------------------------------------------------------------------


@dataclass
class SplitRow:
    count: int
    mean: float
    low: int
    high: int

    @property
    def spread(self) -> float:
        return self.high / self.mean


def measure_split(meters: int) -> tuple[list[SplitRow], float]:
    ids = [uuid.uuid4() for _ in range(meters)]
    started = time.perf_counter()
    rows = []
    for count in SPLIT_COUNTS:
        sizes = bucket_sizes(ids, count)
        rows.append(SplitRow(count, statistics.fmean(sizes), min(sizes), max(sizes)))
    return rows, time.perf_counter() - started


# --- 2. one worker's share: the measured run ------------------------------------------------


@dataclass
class WorkerSpec:
    """What the worker process runs: handed over as JSON on its command line."""

    database_url: str
    buckets: int
    partition_keys: list[str]
    gap: float
    concurrency: int
    out: str


@dataclass
class Phase:
    calls: int = 0
    wall: float = 0.0
    cpu: float = 0.0


@dataclass
class WorkerResult:
    success: bool = False
    run_id: str = ""
    meters: int = 0
    start_seconds: float = 0.0
    start_cpu: float = 0.0
    wall: float = 0.0
    cpu: float = 0.0
    rss_before_mb: float = 0.0
    rss_peak_mb: float = 0.0
    phases: dict[str, Phase] = field(default_factory=dict)
    rows: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    syncs: int = 0
    errors: list[tuple[str, str, int]] = field(default_factory=list)
    # Filled in by the parent:
    process_wall: float = 0.0
    simulator_cpu: float = 0.0
    load_before: float = 0.0


def status_mb(field_name: str) -> float:
    """A memory figure of /proc/self/status in MB. Its VmHWM is the peak of this process's own
    memory: getrusage's ru_maxrss is not, since exec carries over the peak of the memory it
    replaces, which after the vfork of subprocess is the parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise LookupError(field_name)


def rss_mb() -> float:
    return status_mb("VmRSS")


def peak_rss_mb() -> float:
    return status_mb("VmHWM")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed_phase(
    phases: dict[str, Phase], name: str, function: Callable[..., T]
) -> Callable[..., T]:
    """function, adding its wall and CPU time to phases[name] on every call."""
    phase = phases.setdefault(name, Phase())

    def wrapper(*args: Any, **kwargs: Any) -> T:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            phase.calls += 1
            phase.wall += time.perf_counter() - wall
            phase.cpu += time.process_time() - cpu

    return wrapper


def run_worker(spec: WorkerSpec, process_started: float) -> WorkerResult:
    """Materialize meter_sync for the spec's buckets in this process, as a run worker would.

    The asset's helpers are wrapped with timers where it looks them up (module globals), so
    the phases are those of the real asset; the wrappers cost microseconds per call."""
    from dagster import materialize

    import dagster_project.defs.sync.assets as sync_asset
    from dagster_project.defs.resources import EmopSettings, WarehouseResource
    from dagster_project.domain.fleet_buckets import BUCKET_RANGE_END_TAG, BUCKET_RANGE_START_TAG
    from dagster_project.warehouse import connection

    result = WorkerResult(meters=spec.concurrency)
    phases = result.phases
    sync_asset.read_registry = timed_phase(phases, "read registry", sync_asset.read_registry)
    sync_asset.split_by_bucket = timed_phase(phases, "pick bucket", sync_asset.split_by_bucket)
    sync_asset.runner = SimpleNamespace(
        run=timed_phase(phases, "poll meters", sync_asset.runner.run)
    )
    sync_asset._land_bucket = timed_phase(phases, "land (rows + db)", sync_asset._land_bucket)
    sync_asset.load_sync = timed_phase(phases, "  load_sync (COPY)", sync_asset.load_sync)

    resources = {
        "warehouse": WarehouseResource(database_url=spec.database_url),
        "emop": EmopSettings(
            min_gap_seconds=spec.gap,
            max_concurrent_meters=spec.concurrency,
            reuse_connections=True,
        ),
    }
    if len(spec.partition_keys) == 1:
        selection: dict[str, Any] = {"partition_key": spec.partition_keys[0]}
    else:
        selection = {
            "tags": {
                BUCKET_RANGE_START_TAG: spec.partition_keys[0],
                BUCKET_RANGE_END_TAG: spec.partition_keys[-1],
            }
        }
    result.start_seconds = time.perf_counter() - process_started
    result.rss_before_mb = rss_mb()
    result.start_cpu = cpu_seconds()
    cpu, wall = cpu_seconds(), time.perf_counter()
    # Built after the timers are in place: the asset looks its helpers up when it runs.
    meter_sync = sync_asset.build_meter_sync(sync_asset.sync_partitions(spec.buckets))
    outcome = materialize([meter_sync], resources=resources, **selection)
    result.wall = time.perf_counter() - wall
    result.cpu = cpu_seconds() - cpu
    result.rss_peak_mb = peak_rss_mb()
    result.success = outcome.success
    result.run_id = outcome.run_id

    with connection.connect(spec.database_url) as conn:
        counts = conn.execute(ROW_COUNTS, (outcome.run_id,)).fetchone()
        result.rows, result.ok, result.failed, result.skipped, result.syncs = counts or (0,) * 5
        result.errors = [tuple(row) for row in conn.execute(TOP_ERRORS, (outcome.run_id,))]
    return result


def worker_main(spec_json: str, process_started: float) -> None:
    spec = WorkerSpec(**json.loads(spec_json))
    result = run_worker(spec, process_started)
    Path(spec.out).write_text(json.dumps(asdict(result)))


# --- 2. one worker's share: the setting ------------------------------------------------------


def process_cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes, from /proc (the simulator's, which are not ours to
    getrusage until they exit)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat
    return total / CLOCK_TICKS


@dataclass
class Setting:
    meters_served: int = 0
    simulator_processes: int = 0
    simulator_start_seconds: float = 0.0
    registry_csv_seconds: float = 0.0
    registry_load_seconds: float = 0.0
    registry_rows: int = 0
    share_sizes: list[int] = field(default_factory=list)


def load_registry(url: str, csv_path: Path) -> float:
    from dagster import materialize

    from dagster_project.defs.registry.assets import meter_registry_raw
    from dagster_project.defs.resources import WarehouseResource

    started = time.perf_counter()
    result = materialize(
        [meter_registry_raw],
        resources={"warehouse": WarehouseResource(database_url=url)},
        run_config={
            "ops": {"flows_raw__meter_registry": {"config": {"csv_path": str(csv_path)}}},
            **QUIET,
        },
    )
    if not result.success:
        raise RuntimeError("the registry asset failed")
    return time.perf_counter() - started


def registry_shares(url: str, buckets: int) -> tuple[int, list[int]]:
    from dagster_project.warehouse import connection

    with connection.connect(url) as conn:
        ids = [row[0] for row in conn.execute("select id from flows_raw.meter_registry")]
    return len(ids), bucket_sizes(ids, buckets)


def spawn_worker(spec: WorkerSpec, fleet_pids: list[int], log_path: Path) -> WorkerResult:
    """Run the measured sync in a fresh process, so its CPU and peak RSS are its own."""
    load = os.getloadavg()[0]
    simulator_cpu = process_cpu_seconds(fleet_pids)
    command = [sys.executable, __file__, "--worker", json.dumps(asdict(spec))]
    started = time.perf_counter()
    with log_path.open("w") as dagster_log:
        done = subprocess.run(
            command, stdout=dagster_log, stderr=subprocess.STDOUT, timeout=WORKER_TIMEOUT_SECONDS
        )
    process_wall = time.perf_counter() - started
    if done.returncode != 0 or not Path(spec.out).exists():
        tail = log_path.read_text()[-3000:]
        raise RuntimeError(f"worker exited {done.returncode}; end of its log:\n{tail}")
    raw = json.loads(Path(spec.out).read_text())
    raw["phases"] = {name: Phase(**phase) for name, phase in raw["phases"].items()}
    raw["errors"] = [tuple(error) for error in raw["errors"]]
    result = WorkerResult(**raw)
    result.process_wall = process_wall
    result.simulator_cpu = process_cpu_seconds(fleet_pids) - simulator_cpu
    result.load_before = load
    return result


def measure_shares(
    args: argparse.Namespace, url: str, workdir: Path
) -> tuple[Setting, WorkerResult, WorkerResult]:
    from dagster_project.simulator import FleetConfig, ProcessFleet

    setting = Setting()
    config = FleetConfig(
        meters=args.meters,
        seed=args.seed,
        faulty_fraction=0.0,
        latency_seconds=args.rtt,
        # The client keeps the gap; a meter enforcing it as well would only add resets on jitter.
        min_gap_seconds=0.0,
    )
    # The two-bucket run has about 2/buckets of the fleet connected at once.
    connections = math.ceil(2 * args.meters / args.buckets * 1.1)
    processes = max(1, math.ceil((args.meters + connections) / METERS_AND_CONNECTIONS_PER_PROCESS))
    log(f"starting {args.meters:,} simulated meters in {processes} processes ...")
    started = time.perf_counter()
    with ProcessFleet(config, processes=processes) as fleet:
        setting.simulator_start_seconds = time.perf_counter() - started
        setting.meters_served = len(fleet.listings)
        setting.simulator_processes = len(fleet.pids)
        csv_path = workdir / "registry.csv"
        started = time.perf_counter()
        fleet.write_registry_csv(csv_path)
        setting.registry_csv_seconds = time.perf_counter() - started
        log(f"simulator up in {setting.simulator_start_seconds:.0f} s; loading the registry ...")
        setting.registry_load_seconds = load_registry(url, csv_path)
        setting.registry_rows, setting.share_sizes = registry_shares(url, args.buckets)

        keys = [f"{index:02d}-of-{args.buckets:02d}" for index in range(2)]
        results = []
        for wanted in (keys[:1], keys):
            concurrency = sum(setting.share_sizes[: len(wanted)])
            spec = WorkerSpec(
                database_url=url,
                buckets=args.buckets,
                partition_keys=wanted,
                gap=args.gap,
                concurrency=concurrency,
                out=str(workdir / f"worker-{len(wanted)}.json"),
            )
            log(f"materializing meter_sync for {'..'.join(wanted)} ({concurrency:,} meters) ...")
            result = spawn_worker(spec, fleet.pids, workdir / f"worker-{len(wanted)}.log")
            log(f"  done in {result.wall:.1f} s, success={result.success}")
            results.append(result)
            if not fleet.alive():
                raise RuntimeError("a simulator process died during the run")
    return setting, results[0], results[1]


# --- the report --------------------------------------------------------------------------------


def ratio(a: float, b: float) -> str:
    return f"{a / b:6.2f}" if b else f"{'-':>6}"


def report(
    args: argparse.Namespace,
    split: list[SplitRow],
    split_seconds: float,
    setting: Setting,
    one: WorkerResult,
    two: WorkerResult,
    loads: tuple[tuple[float, ...], tuple[float, ...]],
) -> None:
    print(f"\n== 1. the split: {args.meters:,} meters with uuid4 ids (in {split_seconds:.2f} s)")
    print(f"{'buckets':>8} {'mean':>9} {'min':>7} {'max':>7} {'max/mean':>9}")
    for row in split:
        print(f"{row.count:>8} {row.mean:>9.1f} {row.low:>7} {row.high:>7} {row.spread:>9.3f}")

    ideal = REQUESTS_PER_READ * args.rtt + (REQUESTS_PER_READ - 1) * args.gap
    print(f"\n== 2. one worker's share of {args.buckets} buckets, measured")
    print(
        f"simulated fleet     {setting.meters_served:,} meters in "
        f"{setting.simulator_processes} processes, up in {setting.simulator_start_seconds:.0f} s"
    )
    print(
        f"registry            {setting.registry_rows:,} rows; CSV written in "
        f"{setting.registry_csv_seconds:.1f} s, loaded by the asset in "
        f"{setting.registry_load_seconds:.1f} s"
    )
    sizes = setting.share_sizes
    print(
        f"this registry's split into {args.buckets}: mean {statistics.fmean(sizes):.0f}, "
        f"min {min(sizes)}, max {max(sizes)}; bucket 00 holds {sizes[0]:,}, 01 {sizes[1]:,}"
    )
    print(
        f"EMOP                round trip {args.rtt:g} s, gap {args.gap:g} s, one connection per "
        f"read, the whole share in progress; one meter's read >= {ideal:.1f} s"
    )
    one_label, two_label = "1 bucket", "2 buckets"
    print(f"\n{'':34} {one_label:>11} {two_label:>11} {'2/1':>6}")

    def row(label: str, a: float, b: float, fmt: str = ".1f") -> None:
        print(f"{label:34} {format(a, fmt):>11} {format(b, fmt):>11} {ratio(b, a)}")

    row("meters in the run", one.meters, two.meters, ",d")
    row("load average (1 min) before", one.load_before, two.load_before, ".2f")
    row("worker start + imports, s", one.start_seconds, two.start_seconds)
    row("  worker CPU of those, s", one.start_cpu, two.start_cpu)
    row("run wall time, s", one.wall, two.wall)
    row("worker CPU during the run, s", one.cpu, two.cpu)
    row("  CPU / wall (of 1 core)", one.cpu / one.wall, two.cpu / two.wall, ".2f")
    row("simulator CPU during the run, s", one.simulator_cpu, two.simulator_cpu)
    row("worker RSS at the run's start, MB", one.rss_before_mb, two.rss_before_mb, ".0f")
    row("worker peak RSS (VmHWM), MB", one.rss_peak_mb, two.rss_peak_mb, ".0f")
    row("  peak - start, MB", *(r.rss_peak_mb - r.rss_before_mb for r in (one, two)), ".0f")
    row("rows landed (snapshots)", one.rows, two.rows, ",d")
    row("  ok", one.ok, two.ok, ",d")
    row("  failed", one.failed, two.failed, ",d")
    row("syncs landed (one per bucket)", one.syncs, two.syncs, ",d")
    print("phases of the asset (wall s / CPU s):")
    for name in one.phases:
        a, b = one.phases[name], two.phases.get(name, Phase())
        print(
            f"  {name:32} {a.wall:>5.2f}/{a.cpu:<5.2f} {b.wall:>5.2f}/{b.cpu:<5.2f} "
            f"{ratio(b.wall, a.wall)}"
        )
    overhead = [
        r.wall - sum(p.wall for n, p in r.phases.items() if n[0] != " ") for r in (one, two)
    ]
    row("  Dagster and the rest, wall s", *overhead, ".2f")
    for label, result in ((one_label, one), (two_label, two)):
        for error_class, message, count in result.errors:
            print(f"  {label} failures: {count} x {error_class}: {message}")
    if not (one.success and two.success):
        print("  A RUN FAILED: see the worker logs.")

    needed = args.meters / CYCLE_SECONDS
    print(f"\n== extrapolation: {args.meters:,} meters every {CYCLE_SECONDS // 60} min")
    print(
        f"needed: {needed:,.0f} meters/s on average, and with one read taking >= {ideal:.0f} s, "
        f">= {math.ceil(needed * ideal):,} meters in progress across the workers"
    )
    for label, result in ((one_label, one), (two_label, two)):
        per_cpu = result.meters / result.cpu
        per_wall = result.meters / result.wall
        busy_cores = needed / per_cpu
        runs_per_cycle = max(1, math.floor(CYCLE_SECONDS / result.wall))
        runs_needed = math.ceil(args.meters / result.meters)
        print(
            f"{label:>9}: {per_cpu:,.0f} meters per worker CPU-s -> the fleet costs "
            f"{args.meters / per_cpu:,.0f} worker CPU-s a cycle = {busy_cores:.2f} cores busy "
            f"all the time (>= {math.ceil(busy_cores)} worker(s) by CPU)"
        )
        print(
            f"{'':>9}  {per_wall:,.1f} meters per wall-s -> {runs_needed} runs of "
            f"{result.meters:,} meters, {runs_per_cycle} fit back to back in a cycle "
            f"-> {math.ceil(runs_needed / runs_per_cycle)} worker(s) by wall time"
        )
    per_meter_ms = [1000 * r.cpu / r.meters for r in (one, two)]
    print(
        f"worker CPU per meter: {per_meter_ms[0]:.2f} ms (1 bucket), "
        f"{per_meter_ms[1]:.2f} ms (2 buckets)"
    )
    extra_meters, extra_cpu = two.meters - one.meters, two.cpu - one.cpu
    fixed = one.cpu - one.meters * extra_cpu / extra_meters if extra_meters else -1.0
    if extra_cpu > 0 and fixed >= 0:
        # The difference of the two runs separates the cost per meter from the cost per run
        # (registry read, Dagster's events), which a run of more buckets does not pay again.
        per_meter = extra_cpu / extra_meters
        total_cpu = args.meters * per_meter + args.buckets * (fixed + one.start_cpu)
        print(
            f"marginal: {1 / per_meter:,.0f} meters per CPU-s from the difference of the runs, "
            f"plus {fixed:.1f} CPU-s per run and {one.start_cpu:.1f} to start its process; "
            f"{args.buckets} bucket runs a cycle: {total_cpu:,.0f} CPU-s "
            f"= {total_cpu / CYCLE_SECONDS:.2f} cores"
        )
    else:
        print(
            "marginal: the larger share cost more CPU per meter, not less, so no cost per run "
            "separates out (look at the load average: other work on the cores skews this)"
        )
    print(
        "On this 2-core machine the simulator's processes share the cores with the worker "
        "(their CPU is shown above), so the wall times are pessimistic where CPU is short; "
        "the worker's CPU per meter is the figure that carries over to a worker machine."
    )
    (start_load, end_load) = loads
    print(
        f"\nload average at start {' '.join(f'{x:.2f}' for x in start_load)}, "
        f"at end {' '.join(f'{x:.2f}' for x in end_load)}"
    )


def main() -> None:
    process_started = time.perf_counter()
    args = parse_args()
    if args.worker:
        worker_main(args.worker, process_started)
        return
    from dagster_project.settings import Settings
    from dagster_project.warehouse import connection
    from dagster_project.warehouse.embedded import EmbeddedServer

    start_load = os.getloadavg()
    started = time.perf_counter()
    log(f"load average at start: {' '.join(f'{x:.2f}' for x in start_load)}")
    split, split_seconds = measure_split(args.meters)

    settings = Settings.from_environment()
    embedded = EmbeddedServer(settings.state_dir)
    was_running = settings.database_url is None and embedded.status().running
    server = connection.resolve_database(settings)
    log(f"server: {server.display_url} ({'embedded' if server.embedded else 'configured'})")
    try:
        with (
            tempfile.TemporaryDirectory(prefix="flows-scale-out-") as workdir,
            connection.scratch_database(server.url, "flows_bench") as url,
        ):
            setting, one, two = measure_shares(args, url, Path(workdir))
    finally:
        if server.embedded and not was_running:
            embedded.stop()
    report(args, split, split_seconds, setting, one, two, (start_load, os.getloadavg()))
    print(f"whole script: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
