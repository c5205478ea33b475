"""One whole pipeline run, as `flows run` (and so `make run`) does it.

Without a database URL it runs on the embedded PostgreSQL and against a simulated fleet served
from a background thread; it loads the registry, syncs every meter, downloads yesterday's and
today's logs, builds the dbt models with their checks, and stops the simulated fleet. It holds
a lease on the embedded server while it runs: the server is stopped by its last user, so runs
side by side on one checkout do not stop it under each other.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import psycopg
import yaml
from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    DagsterInstance,
    ExecuteInProcessResult,
)
from rich.console import Console
from rich.progress import Progress, TaskID

from dagster_project.defs.sync.assets import all_buckets_tags, sync_partitions
from dagster_project.domain.progress import progress_text
from dagster_project.paths import DEMO_REGISTRY_CSV
from dagster_project.settings import DATABASE_URL, DEFAULT_STATE_DIR, Settings
from dagster_project.warehouse import connection
from dagster_project.warehouse.connection import DatabaseTarget
from dagster_project.warehouse.dbt_vars import MartThresholds, mart_thresholds
from dagster_project.warehouse.run_report import RunFigures, run_figures

# Step-level DEBUG events belong in the UI, not on the terminal of `make run`.
CONSOLE_INFO_LOGGING: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
# The simulator needs no 2-second spacing and its faulty meters should not hold the demo up.
SIMULATED_FLEET_EMOP = {
    "min_gap_seconds": 0.2,
    "timeout_seconds": 3.0,
    "attempts": 2,
    "backoff_base_seconds": 0.2,
}


@dataclass(frozen=True)
class RunOptions:
    settings: Settings
    simulate: bool
    meters: int = 100
    seed: int = 1
    faulty_fraction: float = 0.05
    #: The full Dagster log on the terminal instead of in the log file.
    verbose: bool = False


#: The last `flows run`'s full log, under the state folder.
RUN_LOG_FILE = "flows-run.log"


@dataclass(frozen=True, kw_only=True)
class LogsLanded:
    """Rows the daily-log assets of the run landed, from their materializations' metadata
    (each day's window of every meter read)."""

    profile_records: int = 0
    export_records: int = 0
    events: int = 0

    def add(self, result: ExecuteInProcessResult) -> LogsLanded:
        return LogsLanded(
            profile_records=self.profile_records + _rows_loaded(result, "flows_raw__profile_log_1"),
            export_records=self.export_records + _rows_loaded(result, "flows_raw__profile_log_2"),
            events=self.events + _rows_loaded(result, "flows_raw__meter_event_log"),
        )


@dataclass(frozen=True, kw_only=True)
class RunReport(RunFigures, LogsLanded):
    """What the summary of `flows run` says: the warehouse's figures, the logs landed, and
    what the runs themselves reported."""

    run_ids: list[str]
    target: DatabaseTarget
    registry_source: str
    #: Asset checks of the pipeline run: how many passed, and a line for each that did not.
    checks_passed: int = 0
    check_problems: list[str] = field(default_factory=list)
    #: Checks of error severity that did not pass: `flows run` then exits 3.
    error_checks: int = 0
    #: Where the run's full Dagster log went (None when it went to the terminal).
    log_file: Path | None = None
    #: Where the embedded server keeps its data, for the summary.
    state_dir: Path = DEFAULT_STATE_DIR
    #: The thresholds the marts were built with, as the summary states them.
    thresholds: MartThresholds = field(default_factory=mart_thresholds)


def default_simulate(settings: Settings) -> bool:
    """A simulated fleet unless the user points at real meters or a real database."""
    return settings.database_url is None and settings.registry_csv is None


#: The instance settings `flows` keeps in its Dagster home: no usage telemetry, and no "join the
#: community" dialog over the UI on the first visit (`nux`, Dagster's new-user experience).
INSTANCE_SETTINGS: dict[str, Any] = {"telemetry": {"enabled": False}, "nux": {"enabled": False}}


def ensure_dagster_home(settings: Settings) -> Path:
    """Keep Dagster's run history under .flows/dagster unless DAGSTER_HOME says otherwise, with
    INSTANCE_SETTINGS added to its dagster.yaml where it does not set them itself."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.state_dir / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = home / "dagster.yaml"
    existing = yaml.safe_load(instance_yaml.read_text()) if instance_yaml.exists() else None
    instance = existing if isinstance(existing, dict) else {}
    missing = {key: value for key, value in INSTANCE_SETTINGS.items() if key not in instance}
    if missing:
        instance_yaml.write_text(yaml.safe_dump({**instance, **missing}, sort_keys=False))
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def log_partitions(now: datetime) -> list[str]:
    """Yesterday's and today's UTC days."""
    today = now.astimezone(UTC).date()
    return [(today - timedelta(days=1)).isoformat(), today.isoformat()]


class PipelineFailed(Exception):
    def __init__(self, run_id: str | None, job: str, reason: str = "see the log above") -> None:
        what = f"{job} run {run_id} failed" if run_id else f"{job} failed"
        super().__init__(f"{what}; {reason}")
        self.run_id = run_id
        self.job = job


def run_pipeline(options: RunOptions) -> RunReport:
    with connection.use_database(options.settings, "flows run") as (target, lease):
        try:
            return _run_pipeline(options, target)
        except PipelineFailed as failed:
            gone = lease.gone() if lease else None
            if gone is None:
                raise
            # The steps' own errors only show the lost connection: say what happened to it.
            raise PipelineFailed(failed.run_id, failed.job, gone) from failed
        except psycopg.OperationalError as error:
            gone = lease.gone() if lease else None
            if gone is None:
                raise
            raise PipelineFailed(None, "flows run", f"{gone} ({error})") from error


def _run_pipeline(options: RunOptions, target: DatabaseTarget) -> RunReport:
    from dagster_project.definitions import build_definitions

    ensure_dagster_home(options.settings)
    run_ids: list[str] = []
    evaluations: list[AssetCheckEvaluation] = []
    log_file = None if options.verbose else options.settings.state_dir / RUN_LOG_FILE
    landed = LogsLanded()
    # The report too is read under the lock: another run's dbt build would drop views under it.
    with one_run_at_a_time(target), output_to(log_file) as say:
        if log_file is not None:
            say(f"flows run: the full log goes to {log_file}")
        with serve_registry_source(options) as (registry_source, registry, emop_config):
            defs = build_definitions(replace(options.settings, registry_csv=registry))
            run_config: dict[str, Any] = {**CONSOLE_INFO_LOGGING}
            if emop_config:
                run_config["resources"] = {"emop": {"config": emop_config}}
            buckets = options.settings.sync_buckets
            with DagsterInstance.get() as instance:
                # The whole fleet in one run: every bucket of the sync, then the rest.
                jobs: list[tuple[str, str | None, dict[str, str]]] = [
                    ("flows_pipeline", None, all_buckets_tags(sync_partitions(buckets)))
                ]
                jobs += [("daily_logs", key, {}) for key in log_partitions(datetime.now(UTC))]
                jobs += [("energy_marts", None, {})]
                for job_name, partition, tags in jobs:
                    say(f"  {JOB_PROGRESS[job_name]}{f' for {partition}' if partition else ''} ...")
                    started = time.monotonic()
                    result = defs.resolve_job_def(job_name).execute_in_process(
                        instance=instance,
                        run_config=run_config,
                        partition_key=partition,
                        tags=tags,
                        raise_on_error=False,
                    )
                    run_ids.append(result.run_id)
                    if not result.success:
                        where = f"full log: {log_file}" if log_file else "see the log above"
                        raise PipelineFailed(
                            result.run_id, job_name, f"{failure_reason(result)} ({where})"
                        )
                    say(f"    done in {time.monotonic() - started:.0f} s")
                    evaluations += result.get_asset_check_evaluations()
                    landed = landed.add(result)
        report = read_report(target, run_ids, registry_source, landed)
    # A check that ran in more than one job (the energy checks: with the pipeline's build and
    # after the logs) is judged by its last evaluation.
    evaluations = list({(e.asset_key, e.check_name): e for e in evaluations}.values())
    return replace(
        report,
        log_file=log_file,
        state_dir=options.settings.state_dir,
        checks_passed=sum(evaluation.passed for evaluation in evaluations),
        check_problems=[check_problem(e) for e in evaluations if not e.passed],
        error_checks=sum(
            not e.passed and e.severity == AssetCheckSeverity.ERROR for e in evaluations
        ),
    )


#: What each job of `flows run` does, as its progress line says it.
JOB_PROGRESS = {
    "flows_pipeline": "loading the registry, reading every meter, pushing tariffs and tokens, "
    "building and testing the marts",
    "daily_logs": "downloading the profile and event logs",
    "energy_marts": "building the half-hourly energy marts from the logs",
}


@contextmanager
def output_to(log_file: Path | None) -> Iterator[Callable[[str], None]]:
    """Send everything written to this process's stdout and stderr during the block (Dagster's
    log, dbt's output, the simulator's) to `log_file`, replacing it; yield a function that
    writes a line to the terminal. With no file, the output stays where it is.

    The file descriptors themselves are redirected, so that what child processes and loggers
    made before the block write goes to the file too."""
    if log_file is None:
        yield click.echo
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.dup(saved[0]), "w", buffering=1) as terminal, log_file.open("w") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        echo = ProgressEcho(log_file, Console(file=terminal, soft_wrap=True))
        echo.start()
        try:
            yield echo.say
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            echo.finish()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


class ProgressEcho(threading.Thread):
    """Follows the run's log file and shows the progress lines the assets log there
    (domain/progress.py) on the terminal: as bars on a terminal; otherwise (a file, cron's
    mail) as plain lines, one when a part is done and one at most every PLAIN_EVERY_SECONDS
    while it runs."""

    POLL_SECONDS = 0.5
    PLAIN_EVERY_SECONDS = 30.0

    def __init__(self, log_file: Path, console: Console) -> None:
        super().__init__(name="progress-echo", daemon=True)
        self.log = log_file.open(errors="replace")
        self.console = console
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.bars: Progress | None = None
        self.tasks: dict[str, TaskID] = {}
        self.plain_said: dict[str, float] = {}

    def say(self, line: str) -> None:
        """A line of `flows run`'s own, after the progress logged before it."""
        with self.lock:
            self._drain()
            self._close_bars()
            self.console.print(line, highlight=False, markup=False)

    def finish(self) -> None:
        self.stop.set()
        self.join(5)
        with self.lock:
            self._drain()
            self._close_bars()
            self.log.close()

    def run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                self._drain()
            self.stop.wait(self.POLL_SECONDS)

    def _drain(self) -> None:
        for line in self.log.readlines():
            text = progress_text(line)
            if text:
                self._show(text)

    def _show(self, text: str) -> None:
        counted = PROGRESS_COUNTS.search(text)
        if counted is None:
            self.console.print(f"    {text}", highlight=False, markup=False)
            return
        what, done, total = counted["what"], int(counted["done"]), int(counted["total"])
        if not self.console.is_terminal:
            now = time.monotonic()
            last = self.plain_said.setdefault(what, now)
            if done >= total or now - last >= self.PLAIN_EVERY_SECONDS:
                self.plain_said[what] = now
                self.console.print(f"    {text}", highlight=False, markup=False)
            return
        if self.bars is None:
            self.bars = Progress(console=self.console, transient=False)
            self.bars.start()
        if what not in self.tasks:
            self.tasks[what] = self.bars.add_task(what, total=total)
        self.bars.update(self.tasks[what], completed=done, description=text)

    def _close_bars(self) -> None:
        if self.bars is not None:
            self.bars.stop()
            self.bars, self.tasks = None, {}


#: "sync: 40 of 100 meters (38 ok, 2 failed)"
PROGRESS_COUNTS = re.compile(r"^(?P<what>.+?): (?P<done>\d+) of (?P<total>\d+) meters")


#: pg_advisory_lock key held by a `flows run` for its whole run (see one_run_at_a_time).
RUN_LOCK = 7_301_042_002


@contextmanager
def one_run_at_a_time(target: DatabaseTarget) -> Iterator[None]:
    """Hold the database's `flows run` lock for the block, waiting (and saying so) while another
    run holds it.

    Two dbt builds at once replace the same tables and views under each other, and a build
    drops the views downstream of a table it replaces until it recreates them, so a run reading
    its report meanwhile finds them missing. Runs queued by Dagster have a limit of one build
    at a time (deploy/dagster.yaml); a run in process has this lock instead.
    """
    me = f"flows run (pid {os.getpid()})"
    with psycopg.connect(target.url, autocommit=True, application_name=me) as conn:
        (locked,) = conn.execute("select pg_try_advisory_lock(%s)", (RUN_LOCK,)).fetchone()
        if not locked:
            holder = run_lock_holder(conn) or "another flows run"
            print(f"{holder} is running on {target.display_url}: waiting for it to end", flush=True)
            conn.execute("select pg_advisory_lock(%s)", (RUN_LOCK,))
        yield
        # Ending the session gives the lock back, also when the block raised.


def run_lock_holder(conn: psycopg.Connection) -> str | None:
    """The application name of the session holding the run lock (it names its pid). Advisory
    locks belong to one database: a run on another database of the server holds another lock."""
    row = conn.execute(
        """
        select activity.application_name
        from pg_locks as locks join pg_stat_activity as activity using (pid)
        where locks.locktype = 'advisory' and locks.granted
          and locks.database = (select oid from pg_database where datname = current_database())
          and locks.classid = %s and locks.objid = %s and locks.objsubid = 1
        """,
        (RUN_LOCK >> 32, RUN_LOCK & 0xFFFFFFFF),
    ).fetchone()
    return row[0] if row and row[0] else None


def _rows_loaded(result: ExecuteInProcessResult, node: str) -> int:
    if node not in {n.name for n in result.job_def.nodes}:
        return 0
    return sum(
        int(m.metadata["rows_loaded"].value)  # type: ignore[arg-type]
        for m in result.asset_materializations_for_node(node)
        if "rows_loaded" in m.metadata
    )


def failure_reason(result: ExecuteInProcessResult) -> str:
    """What made the run fail, in the words of its first failed step (e.g. the registry asset's
    refusal of a file)."""
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        if error is not None:
            # A Failure's description, or the exception's message, without its traceback.
            message = " ".join(error.message.split())
            # The message starts with the exception's qualified class name.
            if error.cls_name and f"{error.cls_name}: " in message:
                message = message.split(f"{error.cls_name}: ", 1)[1]
            return f"step {event.step_key}: {message}"
    return "no step said why"


def check_problem(evaluation: AssetCheckEvaluation) -> str:
    return (
        f"{evaluation.check_name} on {evaluation.asset_key.to_user_string()} "
        f"({evaluation.severity.value.lower()}): {evaluation.description or 'failed'}"
    )


@contextmanager
def serve_registry_source(options: RunOptions) -> Iterator[tuple[str, Path, dict[str, Any]]]:
    """What the run loads (said in words, and the registry file) and EMOP settings that suit the
    meters behind it."""
    if not options.simulate:
        registry = options.settings.registry_csv or DEMO_REGISTRY_CSV
        yield str(registry), registry, {}
        return

    from dagster_project.simulator import FleetConfig, run_simulator

    registry = options.settings.state_dir / "simulated_fleet" / "meter_registry.csv"
    config = FleetConfig(
        meters=options.meters,
        seed=options.seed,
        faulty_fraction=options.faulty_fraction,
        port=0,  # any free ports: a simulator started by hand may hold 8080
    )
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(
        target=run_simulator,
        args=(config, registry),
        kwargs={"ready": lambda _: ready.set(), "stop": stop, "echo": print},
        name="simulated-fleet",
        daemon=True,
    )
    thread.start()
    try:
        if not ready.wait(120):
            raise RuntimeError("the simulated fleet did not start within 120 s")
        yield (
            f"simulated fleet of {options.meters} meters (seed {options.seed})",
            registry,
            dict(SIMULATED_FLEET_EMOP),
        )
    finally:
        stop.set()
        thread.join(30)


def read_report(
    target: DatabaseTarget, run_ids: list[str], registry_source: str, logs_landed: LogsLanded
) -> RunReport:
    with connection.connect(target.url) as conn:
        figures = run_figures(conn, run_ids)
    return RunReport(
        **vars(figures),
        **vars(logs_landed),
        run_ids=run_ids,
        target=target,
        registry_source=registry_source,
    )


def _held_back_lines(report: RunReport) -> list[str]:
    """A line only when some sync is kept out of the marts."""
    if not report.syncs_awaiting and not report.syncs_failed:
        return []
    return [
        f"  held back:       {report.syncs_awaiting} syncs awaiting the raw checks, "
        f"{report.syncs_failed} failed them: not in the marts (flows_raw.meter_sync_verdicts)"
    ]


def _outcome(report: RunReport) -> str:
    if report.error_checks:
        return f"ran, but {report.error_checks} error-severity check(s) did not pass (exit 3)"
    return "success"


def _outcomes(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {outcome}" for outcome, count in sorted(counts.items())) or "none"


def report_text(report: RunReport, ui: str) -> str:
    where = (
        f"embedded PostgreSQL under {report.state_dir}" if report.target.embedded else DATABASE_URL
    )
    rejected = f"{report.rejected_rows} rejected" + (
        " (see flows_raw.meter_registry_rejects)" if report.rejected_rows else ""
    )
    return "\n".join(
        (
            "",
            f"flows pipeline: {_outcome(report)} ({len(report.run_ids)} runs)",
            f"  registry:        {report.registry_source}",
            f"  registry rows:   {report.registry_rows} loaded, {rejected}",
            f"  sync:            {report.meters_ok} ok, {report.meters_failed} failed, "
            f"{report.meters_skipped} skipped",
            *_held_back_lines(report),
            f"  low balance:     {report.low_balance} meters under "
            f"£{report.thresholds.low_balance_gbp:.2f} (flows.meters_low_balance)",
            f"  offline:         {report.offline} meters with no contact for "
            f"{report.thresholds.offline_after_hours} hours or ever (flows.meters_offline_all)",
            f"  logs:            {report.profile_records} half-hourly import and "
            f"{report.export_records} export records, "
            f"{report.events} events landed (yesterday's and today's UTC days)",
            f"  energy:          {report.energy_day}: {report.energy_import_kwh:.1f} kWh imported, "
            f"{report.energy_known_share:.1%} of half-hours known (flows.meter_consumption_daily)",
            f"  tariff pushes:   {_outcomes(report.tariff_pushes)} (flows.tariff_changes)",
            f"  top-up tokens:   {_outcomes(report.token_sends)} (flows_raw.topup_log)",
            f"  checks:          {report.checks_passed} passed, "
            f"{len(report.check_problems)} not passed",
            *(f"    {problem}" for problem in report.check_problems),
            f"  database:        {report.target.display_url} ({where})",
            '  query it:        psql "$(.venv/bin/flows db url --show-password)"',
            *([f"  full log:        {report.log_file}"] if report.log_file else []),
            f"  UI:              make dev, then open {ui}",
        )
    )
