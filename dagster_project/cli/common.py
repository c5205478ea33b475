"""What the `flows` command groups share: opening the database with a one-line error."""

from __future__ import annotations

import sys

import click
import psycopg

from dagster_project.warehouse import connection


def open_database() -> psycopg.Connection:
    """An autocommit connection to the pipeline's database; exit 1 naming it when it fails."""
    database = connection.resolve_database()
    try:
        return connection.connect(database.url, autocommit=True)
    except psycopg.OperationalError as error:
        click.echo(f"error: database {database.display_url}: {error}", err=True)
        sys.exit(1)
