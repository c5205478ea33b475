"""The `flows` command: run the pipeline, serve the UI, manage the embedded database."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from dagster_project.cli_emop import emop, simulate
from dagster_project.cli_tariff import tariff
from dagster_project.cli_topup import topup
from dagster_project.paths import PROJECT_ROOT
from dagster_project.warehouse import connection, embedded

UI_HOST = "127.0.0.1"
DEFAULT_UI_PORT = 3000


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
@click.option(
    "--simulate/--no-simulate",
    default=None,
    help="Poll a simulated fleet (default: when neither FLOWS_DATABASE_URL nor "
    "FLOWS_REGISTRY_CSV is set).",
)
@click.option("--meters", default=100, show_default=True, help="Simulated fleet size.")
@click.option("--seed", default=1, show_default=True, help="Simulated fleet seed.")
@click.option(
    "--faulty-fraction", default=0.05, show_default=True, help="Share of faulty simulated meters."
)
def run(simulate: bool | None, meters: int, seed: int, faulty_fraction: float) -> None:
    """Run the whole pipeline once and print a summary."""
    from dagster_project import pipeline_run

    options = pipeline_run.RunOptions(
        simulate=pipeline_run.default_simulate() if simulate is None else simulate,
        meters=meters,
        seed=seed,
        faulty_fraction=faulty_fraction,
    )
    try:
        report = pipeline_run.run_pipeline(options)
    except pipeline_run.PipelineFailed as error:
        click.echo(str(error), err=True)
        sys.exit(1)
    click.echo(pipeline_run.report_text(report, f"http://{UI_HOST}:{DEFAULT_UI_PORT}"))


@main.command("dev")
@click.option("--port", default=DEFAULT_UI_PORT, show_default=True, help="UI port.")
def dev(port: int) -> None:
    """Serve the Dagster UI and daemon on 127.0.0.1 through workspace.yaml."""
    from dagster_project.pipeline_run import ensure_dagster_home

    ensure_dagster_home()
    dagster = Path(sys.executable).with_name("dagster")
    args = [str(dagster), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml")]
    args += ["-h", UI_HOST, "-p", str(port)]
    os.chdir(PROJECT_ROOT)
    os.execv(args[0], args)


main.add_command(emop)
main.add_command(simulate)
main.add_command(tariff)
main.add_command(topup)

if __name__ == "__main__":
    main()
