"""What the `flows` command groups share: the settings, and the database with a one-line error."""

from __future__ import annotations

import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click
import psycopg

from dagster_project.settings import Settings, SettingsError
from dagster_project.warehouse import connection

#: The exit statuses of every `flows` command (README "Exit statuses").
EXIT_FAILED = 1  # it could not be done: a meter or the database did not answer, a run failed
EXIT_USAGE = 2  # bad input: an option, a setting, a file
EXIT_CHECKS_FAILED = 3  # `flows run` ran, but an error-severity check did not pass

#: Where an unexpected error's traceback goes (under the state folder), instead of the terminal.
LAST_ERROR_FILE = "last-error.txt"


class FlowsGroup(click.Group):
    """A command group whose unexpected errors reach the user as one line, the traceback being
    kept in a file for whoever reports it: no traceback on the terminal."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except psycopg.OperationalError as error:
            root = ctx.find_root().obj
            url = root.database_url if isinstance(root, Settings) else None
            which = connection.redact_url(url) if url else "the embedded PostgreSQL"
            fail(f"the database {which} did not answer: {one_line(error)}")
        except Exception as error:
            where = keep_traceback(ctx)
            fail(f"{type(error).__name__}: {one_line(error)}", kept=where)


def one_line(error: BaseException) -> str:
    """The error's message on one line (libpq's, for one, spans two)."""
    return " ".join(str(error).split()) or type(error).__name__


def keep_traceback(ctx: click.Context) -> Path | None:
    """Write the current exception's traceback under the state folder; None if that fails."""
    root = ctx.find_root().obj
    folder = root.state_dir if isinstance(root, Settings) else Path.cwd()
    path = folder / LAST_ERROR_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"{datetime.now(UTC).isoformat()} flows {' '.join(sys.argv[1:])}\n"
            + traceback.format_exc()
        )
    except OSError:
        return None
    return path


def fail(message: str, status: int = EXIT_FAILED, kept: Path | None = None) -> NoReturn:
    """End the command with one line on stderr (and where the details are, when kept)."""
    details = f" (details: {kept})" if kept else ""
    click.echo(f"error: {message}{details}", err=True)
    sys.exit(status)


def load_settings() -> Settings:
    """The settings from the environment; a bad one ends the command naming the variable."""
    try:
        return Settings.from_environment()
    except SettingsError as error:
        fail(str(error), EXIT_USAGE)


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
        fail(f"database {database.display_url}: {one_line(error)}")
