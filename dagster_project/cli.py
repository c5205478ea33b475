"""The `flows` command: run the pipeline, serve the UI, manage the embedded database."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from dagster_project.cli_emop import emop, simulate
from dagster_project.paths import PROJECT_ROOT, state_dir
from dagster_project.warehouse import connection, embedded

UI_HOST = "127.0.0.1"
DEFAULT_UI_PORT = 3000
# Step-level DEBUG events belong in the UI, not on the terminal of `make run`.
CONSOLE_INFO_LOGGING = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


@click.group()
def main() -> None:
    """Flows: meter data from Emlite prepayment meters into PostgreSQL."""


@main.group()
def db() -> None:
    """The database: FLOWS_DATABASE_URL when set, else the embedded server under .flows/."""


@db.command("url")
def db_url() -> None:
    """Print the database URL, starting the embedded server if it is needed."""
    click.echo(connection.resolve_database().url)


@db.command("start")
def db_start() -> None:
    """Start the embedded server (it keeps running until `flows db stop`)."""
    if _external_database_note():
        return
    url = embedded.start()
    click.echo(f"embedded PostgreSQL running: {url}")


@db.command("stop")
def db_stop() -> None:
    """Stop the embedded server; its data stays under .flows/."""
    if _external_database_note():
        return
    if embedded.stop():
        click.echo("embedded PostgreSQL stopped")
    else:
        click.echo("embedded PostgreSQL was not running")


@db.command("status")
def db_status() -> None:
    """Say which database is in use and whether the embedded server runs."""
    if _external_database_note():
        return
    status = embedded.status()
    if status.running:
        click.echo(f"embedded PostgreSQL running (pid {status.pid}), data in {status.data_dir}")
    else:
        click.echo(f"embedded PostgreSQL stopped, data in {status.data_dir}")
        sys.exit(3)


def _external_database_note() -> bool:
    url = connection.configured_url()
    if url is None:
        return False
    click.echo(
        f"{connection.DATABASE_URL_ENV} is set ({connection.redact_url(url)}): "
        "the embedded server is not used"
    )
    return True


@main.command("run")
def run() -> None:
    """Run the whole pipeline once and print a summary."""
    from dagster import DagsterInstance

    from dagster_project.definitions import defs

    started_embedded = connection.configured_url() is None and not embedded.status().running
    target = connection.resolve_database()
    ensure_dagster_home()
    try:
        with DagsterInstance.get() as instance:
            result = defs.resolve_job_def("flows_pipeline").execute_in_process(
                instance=instance, run_config=CONSOLE_INFO_LOGGING
            )
        summary = read_run_summary(target.url) if result.success else None
    finally:
        if started_embedded:
            embedded.stop()

    if not result.success:
        click.echo(f"pipeline run {result.run_id} FAILED; see the log above", err=True)
        sys.exit(1)
    assert summary is not None
    where = "embedded PostgreSQL under .flows/" if target.embedded else "FLOWS_DATABASE_URL"
    click.echo(
        "\n".join(
            (
                "",
                f"flows pipeline run {result.run_id}: success",
                f"  registry rows loaded:   {summary.registry_rows}",
                f"  registry rows rejected: {summary.rejected_rows}"
                + ("  (see flows_raw.meter_registry_rejects)" if summary.rejected_rows else ""),
                f"  flows.meter_registry:   {summary.mart_rows} meters",
                f"  database: {target.display_url} ({where})",
                '  query it:  psql "$(.venv/bin/flows db url)"',
                f"  UI:        make dev, then open http://{UI_HOST}:{DEFAULT_UI_PORT}",
            )
        )
    )


@dataclass(frozen=True)
class RunSummary:
    registry_rows: int
    rejected_rows: int
    mart_rows: int


def read_run_summary(url: str) -> RunSummary:
    with connection.connect(url) as conn:
        row = conn.execute(
            """
            select
                (select count(*) from flows_raw.meter_registry),
                (select count(distinct row_number) from flows_raw.meter_registry_rejects),
                (select count(*) from flows.meter_registry)
            """
        ).fetchone()
    assert row is not None
    return RunSummary(*row)


@main.command("dev")
@click.option("--port", default=DEFAULT_UI_PORT, show_default=True, help="UI port.")
def dev(port: int) -> None:
    """Serve the Dagster UI and daemon on 127.0.0.1 through workspace.yaml."""
    ensure_dagster_home()
    dagster = Path(sys.executable).with_name("dagster")
    args = [str(dagster), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml")]
    args += ["-h", UI_HOST, "-p", str(port)]
    os.chdir(PROJECT_ROOT)
    os.execv(args[0], args)


def ensure_dagster_home() -> Path:
    """Keep Dagster's run history under .flows/dagster unless DAGSTER_HOME says otherwise."""
    home = Path(os.environ.get("DAGSTER_HOME") or state_dir() / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = home / "dagster.yaml"
    if not instance_yaml.exists():
        instance_yaml.write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


main.add_command(emop)
main.add_command(simulate)

if __name__ == "__main__":
    main()
