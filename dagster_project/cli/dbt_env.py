"""`flows db dbt-env`: the environment dbt/profiles.yml reads, as shell `export` lines, so that
dbt run by hand (`eval "$(flows db dbt-env)"`) reaches the database the pipeline uses."""

from __future__ import annotations

import shlex

import click

from dagster_project.cli.common import settings
from dagster_project.warehouse import connection


@click.command("dbt-env")
def dbt_env() -> None:
    """Print `export FLOWS_DB_...=...` lines for dbt/profiles.yml (the password included, in
    DBT_ENV_SECRET_FLOWS_DB_PASSWORD, which dbt keeps out of its logs), starting the embedded
    server if needed. Use: eval "$(flows db dbt-env)"."""
    target = connection.resolve_database(settings())
    for name, value in connection.dbt_profile_env(target.url).items():
        # Quoted for the shell: a socket folder or a password may hold spaces or quotes.
        click.echo(f"export {name}={shlex.quote(value)}")
