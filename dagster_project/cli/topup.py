"""`flows topup`: queue a top-up token for a meter; the write path sends it after the next sync."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click
import psycopg

from dagster_project.cli.common import settings
from dagster_project.cli.tariff import EXIT_INVALID, os_user
from dagster_project.domain import tariff_requests as tr
from dagster_project.domain.topups import TokenFormatError, masked, parse_token
from dagster_project.warehouse import connection
from dagster_project.warehouse.raw_tables import ensure_raw_tables
from dagster_project.warehouse.tariff_store import meters_for_target
from dagster_project.warehouse.write_store import insert_token

TOPUP_HELP = """Queue a 20-digit top-up token for one meter. It is stored in flows_raw.topup_tokens
and sent by the write path after the next sync; flows_raw.topup_log records each attempt. A
token is sent so that it credits the meter once, even when an answer is lost; the same token
cannot be queued twice for a meter. Problems go to stderr with exit status 2."""


@click.command("topup", help=TOPUP_HELP)
@click.option("--serial", required=True, help="The meter's serial (EML and 10 digits).")
@click.option("--token", "token_text", required=True, help="20 digits; spaces or dashes ok.")
@click.option("--requested-by", default=None, help="Who asks for it (default: the OS user).")
def topup(serial: str, token_text: str, requested_by: str | None) -> None:
    serial = serial.strip()
    problems: list[str] = []
    token = None
    try:
        token = parse_token(token_text)
    except TokenFormatError as error:
        problems.append(f"meter {serial}: token = {_shown(token_text)}: {error}")
    requester = (os_user() if requested_by is None else requested_by).strip()
    if not requester:
        problems.append(f"meter {serial}: requested_by = {requested_by!r}: must name who asks")

    database = connection.resolve_database(settings())
    now = datetime.now(UTC)
    try:
        with connection.connect(database.url, autocommit=True) as conn:
            ensure_raw_tables(conn)
            with conn.transaction():
                meters = meters_for_target(conn, tr.MeterTarget(serial))
                problems += _meter_problems(serial, meters)
                token_id = None
                if not problems and token is not None:
                    token_id = insert_token(
                        conn,
                        meter_id=meters[0].meter_id,
                        serial=serial,
                        token=token,
                        requested_by=requester,
                        requested_at=now,
                    )
                    if token_id is None:
                        problems.append(
                            f"meter {serial}: token = {masked(token)}: already queued for this "
                            "meter (a token credits once; see flows_raw.topup_log)"
                        )
    except psycopg.OperationalError as error:
        click.echo(f"error: database {database.display_url}: {error}", err=True)
        sys.exit(1)
    except psycopg.Error as error:  # the checks passed but the database refused the row
        click.echo(
            f"error: database {database.display_url}: the token could not be queued "
            f"({_first_line(error)}); nothing queued",
            err=True,
        )
        sys.exit(1)

    if problems:
        for line in problems:
            click.echo(line, err=True)
        click.echo(f"refused: {len(problems)} problem(s), nothing queued", err=True)
        sys.exit(EXIT_INVALID)
    assert token is not None
    click.echo(
        f"token {masked(token)} queued for meter {serial} as {token_id}; "
        "it is sent after the next sync"
    )


def _meter_problems(serial: str, meters: list[tr.MeterFacts]) -> list[str]:
    if not meters:
        return [f"meter {serial}: serial = {serial!r}: not in the meter registry"]
    meter = meters[0]
    problems = []
    if meter.mode != tr.ACTIVE:
        problems.append(f"meter {serial}: mode = {meter.mode!r}: only active meters are contacted")
    if not meter.prepay_enabled:
        problems.append(
            f"meter {serial}: prepay_enabled = False: the meter is in credit mode, "
            "a token would not credit it"
        )
    return problems


def _first_line(error: Exception) -> str:
    """A database error's first line: the rest (context, hints) would bury it."""
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__


def _shown(text: str) -> str:
    """What of a malformed token to echo back: its length and last digits, never all of it."""
    return f"({len(text)} characters ending {text[-4:]!r})"
