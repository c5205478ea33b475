"""`flows identity`: meters whose registered address answers with another serial, and resolving
them once an operator has checked the meter (until then no tariff or token is written to it)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click
import psycopg

from dagster_project.cli.common import open_database
from dagster_project.warehouse.identity_store import (
    UnknownMeter,
    resolve_mismatch,
    unresolved_mismatches,
)
from dagster_project.warehouse.raw_tables import ensure_raw_tables


@click.group("identity", invoke_without_command=True)
@click.pass_context
def identity(context: click.Context) -> None:
    """Identity mismatches no operator has resolved: the meter, since when, and what the device
    at its address says it is. Tariff pushes and top-up tokens to these meters wait."""
    if context.invoked_subcommand is not None:
        return
    with _database() as conn:
        mismatches = unresolved_mismatches(conn)
    if not mismatches:
        click.echo("no unresolved identity mismatch")
        return
    for mismatch in mismatches:
        click.echo(
            f"{mismatch.serial}  since {mismatch.first_seen:%Y-%m-%d %H:%M} UTC, "
            f"last {mismatch.last_seen:%Y-%m-%d %H:%M} UTC: {mismatch.message}"
        )
    click.echo(
        f"{len(mismatches)} meter(s) blocked from writes; after checking one (and correcting "
        "the registry if its address moved): flows identity resolve SERIAL --by NAME"
    )


@identity.command("resolve")
@click.argument("serial")
@click.option("--by", "resolved_by", required=True, help="Who checked the meter.")
@click.option("--note", help="What was found or done, for the record.")
def resolve(serial: str, resolved_by: str, note: str | None) -> None:
    """Record that SERIAL's identity mismatch is dealt with: writes to it resume, and a
    mismatch seen again later blocks them again."""
    # The record is what lets writes to a meter resume: it must say who checked it.
    if not resolved_by.strip():
        raise click.BadParameter(
            f"{resolved_by!r} names nobody: give who checked the meter", param_hint="'--by'"
        )
    with _database() as conn:
        try:
            was_pending = resolve_mismatch(conn, serial, resolved_by, note, datetime.now(UTC))
        except UnknownMeter:
            click.echo(
                f"error: meter {serial!r} is not in the registry (flows_raw.meter_registry): "
                "check the serial (flows identity lists the meters waiting)",
                err=True,
            )
            sys.exit(2)
    if was_pending:
        click.echo(f"{serial}: identity mismatch resolved by {resolved_by}; writes resume")
    else:
        click.echo(f"{serial}: no unresolved identity mismatch; resolution recorded anyway")


def _database() -> psycopg.Connection:
    conn = open_database()
    ensure_raw_tables(conn)
    return conn
