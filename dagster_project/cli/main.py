"""The `flows` command: run the pipeline, serve the UI, manage the embedded database."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import psycopg
import yaml

from dagster_project.cli.common import (
    EXIT_CHECKS_FAILED,
    EXIT_USAGE,
    FlowsGroup,
    fail,
    load_settings,
    one_line,
    settings,
)
from dagster_project.cli.connections import connections
from dagster_project.cli.dbt_env import dbt_env
from dagster_project.cli.emop import emop, simulate
from dagster_project.cli.identity import identity
from dagster_project.cli.maintenance import partition
from dagster_project.cli.registry import registry
from dagster_project.cli.tariff import tariff
from dagster_project.cli.topup import topup
from dagster_project.paths import PROJECT_ROOT
from dagster_project.settings import DATABASE_URL, EMOP_PREFIX, REGISTRY_CSV
from dagster_project.warehouse import connection
from dagster_project.warehouse.embedded import EmbeddedServer, EmbeddedServerInUse

if TYPE_CHECKING:  # pipeline_run imports Dagster: only the commands that run it load it
    from dagster_project.cli.run import RunOptions

#: More than any test or demo needs; a simulator of this many meters fills a machine's ports.
MAX_SIMULATED_METERS = 50_000
UI_HOST = "127.0.0.1"
DEFAULT_UI_PORT = 3000


@click.group(cls=FlowsGroup)
@click.version_option(package_name="flows-meter-data", prog_name="flows")
@click.pass_context
def main(context: click.Context) -> None:
    """Flows: meter data from Emlite prepayment meters into PostgreSQL.

    Exit statuses: 0 done; 1 could not be done (a meter or the database did not answer, a run
    failed); 2 bad input (an option, a setting, a file); 3 `flows run` ran but an error-severity
    check did not pass (`flows db status`: 3 when the embedded server is stopped).
    """
    context.obj = load_settings()


@main.group()
def db() -> None:
    """The database: FLOWS_DATABASE_URL when set, else the embedded server under .flows/."""


@db.command("url")
@click.option(
    "--show-password", is_flag=True, help="Print the password too (for psql and other tools)."
)
def db_url(show_password: bool) -> None:
    """Print the database URL (password masked), starting the embedded server if needed."""
    target = connection.resolve_database(settings())
    click.echo(target.url if show_password else target.display_url)


@db.command("start")
def db_start() -> None:
    """Start the embedded server (it keeps running until `flows db stop`)."""
    if _external_database_note():
        return
    url = EmbeddedServer(settings().state_dir).start_until_stopped()
    click.echo(f"embedded PostgreSQL running: {url}")


@db.command("stop")
@click.option(
    "--force", is_flag=True, help="Stop it even while runs use it (they then fail, saying why)."
)
def db_stop(force: bool) -> None:
    """Stop the embedded server; its data stays under .flows/. Refuses while a run uses it."""
    if _external_database_note():
        return
    try:
        stopped = EmbeddedServer(settings().state_dir).stop(force=force)
    except EmbeddedServerInUse as error:
        raise click.ClickException(str(error)) from None
    if stopped:
        click.echo("embedded PostgreSQL stopped")
    else:
        click.echo("embedded PostgreSQL was not running")


@db.command("status")
def db_status() -> None:
    """Say which database is in use and whether it answers; for the embedded server, whether
    it runs and who uses it. Exit 3 when the embedded server is stopped, 1 when the database
    does not answer."""
    url = settings().database_url
    if url is None:
        _embedded_status()
        return
    shown = connection.redact_url(url)
    try:
        with connection.connect(url, connect_timeout=10) as conn:
            row = conn.execute("show server_version").fetchone()
    except psycopg.OperationalError as error:
        fail(f"{DATABASE_URL} is set ({shown}) but the database does not answer: {one_line(error)}")
    version = row[0] if row else "?"
    click.echo(f"{DATABASE_URL} is set ({shown}): PostgreSQL {version} answers")


def _embedded_status() -> None:
    server = EmbeddedServer(settings().state_dir)
    status = server.status()
    if status.running:
        click.echo(f"embedded PostgreSQL running (pid {status.pid}), data in {status.data_dir}")
        for user in server.live_users():
            click.echo(f"  in use by {user.describe()}")
    else:
        click.echo(f"embedded PostgreSQL stopped, data in {status.data_dir}")
        sys.exit(3)


def _external_database_note() -> bool:
    url = settings().database_url
    if url is None:
        return False
    click.echo(
        f"{DATABASE_URL} is set ({connection.redact_url(url)}): the embedded server is not used"
    )
    return True


def simulated_fleet_options(command: Callable[..., None]) -> Callable[..., None]:
    """The fleet options `flows run` and `flows dev` share, handed over as `options`."""

    @click.option(
        "--simulate/--no-simulate",
        default=None,
        help="Use a simulated fleet (default: when neither FLOWS_DATABASE_URL nor "
        "FLOWS_REGISTRY_CSV is set).",
    )
    @click.option(
        "--meters",
        default=100,
        show_default=True,
        type=click.IntRange(1, MAX_SIMULATED_METERS),
        help="Simulated fleet size.",
    )
    @click.option("--seed", default=1, show_default=True, help="Simulated fleet seed.")
    @click.option(
        "--faulty-fraction",
        default=0.05,
        show_default=True,
        type=click.FloatRange(0.0, 1.0),
        help="Share of faulty simulated meters (0 to 1).",
    )
    @functools.wraps(command)
    def with_options(
        simulate: bool | None, meters: int, seed: int, faulty_fraction: float, **rest: Any
    ) -> None:
        from dagster_project.cli import run as pipeline_run

        options = pipeline_run.RunOptions(
            settings=settings(),
            simulate=pipeline_run.default_simulate(settings()) if simulate is None else simulate,
            meters=meters,
            seed=seed,
            faulty_fraction=faulty_fraction,
        )
        command(options=options, **rest)

    return with_options


@main.command("run")
@click.option(
    "--verbose",
    is_flag=True,
    help="Show the full Dagster and dbt log here instead of writing it to a file.",
)
@simulated_fleet_options
def run(verbose: bool, options: RunOptions) -> None:
    """Run the whole pipeline once and print a summary.

    The full log goes to flows-run.log under the state folder (the summary names it) unless
    --verbose. Exit 3 when the run finished but an error-severity check did not pass.
    """
    from dagster_project.cli import run as pipeline_run

    options = replace(options, verbose=verbose)

    if not options.simulate:
        registry = options.settings.registry_csv
        if registry is not None and not registry.is_file():
            fail(f"registry file {registry} ({REGISTRY_CSV}) does not exist", EXIT_USAGE)
    try:
        report = pipeline_run.run_pipeline(options)
    except pipeline_run.PipelineFailed as error:
        fail(str(error))
    click.echo(pipeline_run.report_text(report, f"http://{UI_HOST}:{DEFAULT_UI_PORT}"))
    if report.error_checks:
        # Ran to the end, but cron and schedulers must see that something is wrong.
        sys.exit(EXIT_CHECKS_FAILED)


@main.command("dev")
@click.option("--port", default=DEFAULT_UI_PORT, show_default=True, help="UI port.")
@simulated_fleet_options
def dev(port: int, options: RunOptions) -> None:
    """Serve the Dagster UI and daemon on 127.0.0.1 (`dagster dev`) until Ctrl-C.

    With a simulated fleet, the registry asset loads the fleet's registry and the meters are
    polled with the short gaps and timeouts `flows run` uses for it (FLOWS_EMOP_* settings).
    """
    from dagster_project.cli import run as pipeline_run

    with socket.socket() as probe:
        if probe.connect_ex((UI_HOST, port)) == 0:  # dagster dev would run on without a UI
            raise click.ClickException(f"{UI_HOST}:{port} is in use: stop that or pass --port")
    with (
        connection.use_database(options.settings, "flows dev") as (target, _),
        pipeline_run.serve_registry_source(options) as (source, registry, emop_config),
        tempfile.TemporaryDirectory(prefix="flows-dev-") as scratch,
    ):
        pipeline_run.ensure_dagster_home(options.settings)
        click.echo(f"flows dev: {source}")
        click.echo(f"  database: {target.display_url}")
        click.echo(f"  UI:       http://{UI_HOST}:{port} (Ctrl-C stops it)")
        # The served code location reads its settings from this environment.
        env = {**os.environ, REGISTRY_CSV: str(registry)}
        for name, value in emop_config.items():  # settings in the environment win
            env.setdefault(EMOP_PREFIX + name.upper(), str(value))
        returncode = _serve(port, Path(scratch), env)
    sys.exit(returncode)


def _serve(port: int, scratch: Path, env: dict[str, str]) -> int:
    """`dagster dev` with workspace.yaml's code location served by a code server of our own.

    Under `dagster dev` every process that loads the definitions (its code server, each run and
    each step) would first re-parse the dbt project, tens of seconds each; `make dev` has
    prepared dbt's manifest already, so the code server and the runs it launches are started
    outside it. Restart after changing the dbt project.
    """
    (entry,) = yaml.safe_load((PROJECT_ROOT / "workspace.yaml").read_text())["load_from"]
    location = entry["python_module"]
    code_socket = scratch / "code-server.sock"
    workspace = scratch / "workspace.yaml"
    grpc_server = {"socket": str(code_socket), "location_name": location["location_name"]}
    workspace.write_text(json.dumps({"load_from": [{"grpc_server": grpc_server}]}))
    dagster = str(Path(sys.executable).with_name("dagster"))
    code_server = [
        dagster, "code-server", "start", "--socket", str(code_socket),
        "-m", location["module_name"],
        "-d", str(PROJECT_ROOT / location.get("working_directory", ".")),
        "--location-name", location["location_name"],
        "--log-level", "warning", "--inject-env-vars-from-instance",
    ]  # fmt: skip
    dagster_dev = [dagster, "dev", "-w", str(workspace), "-h", UI_HOST, "-p", str(port)]
    return _run_until_stopped(code_server, code_socket, dagster_dev, env)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
SHUTDOWN_SECONDS = 60


def _run_until_stopped(
    code_server: list[str], code_socket: Path, dagster_dev: list[str], env: dict[str, str]
) -> int:
    """Start the code server, then (once it listens) `dagster dev`, in one new process group;
    run until a stop signal comes or either exits.

    Ctrl-C, SIGTERM and SIGHUP reach this process only (the group is not the terminal's).
    `dagster dev` then gets SIGINT (for Ctrl-C) or SIGTERM, once, and stops its webserver and
    daemon; the code server, which keeps no state and does not stop on a signal, is killed with
    whatever else is left of the group (a run in progress). The handlers are set before the
    commands start, so these do not inherit an ignored SIGINT, as a shell's background jobs do.
    Returns 0 after a stop signal, else the exit status of the command that ended.
    """
    received: list[int] = []
    children: list[subprocess.Popen] = []

    def running() -> bool:
        return not received and all(child.poll() is None for child in children)

    def start(command: list[str], group: int) -> subprocess.Popen:
        child = subprocess.Popen(
            command, env=env, cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, process_group=group
        )
        children.append(child)
        return child

    previous = {
        sig: signal.signal(sig, lambda signum, _: received.append(signum)) for sig in STOP_SIGNALS
    }
    try:
        server = start(code_server, 0)
        while running() and not _listening(code_socket):
            time.sleep(0.2)
        if running():
            dev = start(dagster_dev, server.pid)
            while running():
                time.sleep(0.5)
            if dev.poll() is None:
                ctrl_c = received[:1] == [signal.SIGINT]
                dev.send_signal(signal.SIGINT if ctrl_c else signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    dev.wait(SHUTDOWN_SECONDS)
        if received:
            return 0
        return next(child.returncode for child in children if child.returncode is not None) or 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(children[0].pid, signal.SIGKILL)


def _listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
        return True


db.add_command(dbt_env)
db.add_command(partition)
main.add_command(connections)
main.add_command(emop)
main.add_command(identity)
main.add_command(registry)
main.add_command(simulate)
main.add_command(tariff)
main.add_command(topup)

if __name__ == "__main__":
    main()
