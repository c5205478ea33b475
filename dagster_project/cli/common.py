"""What the `flows` command groups share: the settings, and the database with a one-line error."""

from __future__ import annotations

import sys

import click
import psycopg

from dagster_project.settings import Settings, SettingsError
from dagster_project.warehouse import connection


def load_settings() -> Settings:
    """The settings from the environment; a bad one ends the command naming the variable."""
    try:
        return Settings.from_environment()
    except SettingsError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)


def settings() -> Settings:
    """The settings `flows` read as it started (read here when a group runs on its own)."""
    root = click.get_current_context().find_root()
    if not isinstance(root.obj, Settings):
        root.obj = load_settings()
    return root.obj


def open_database() -> psycopg.Connection:
    """An autocommit connection to the pipeline's database; exit 1 naming it when it fails."""
    database = connection.resolve_database(settings())
    try:
        return connection.connect(database.url, autocommit=True)
    except psycopg.OperationalError as error:
        click.echo(f"error: database {database.display_url}: {error}", err=True)
        sys.exit(1)
