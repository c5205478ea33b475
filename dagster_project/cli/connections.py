"""`flows connections`: the per-ESCO caps on simultaneous meter connections, and who holds them."""

from __future__ import annotations

import sys
import uuid

import click

from dagster_project.cli.common import open_database, settings
from dagster_project.settings import MAX_CONNECTIONS_PER_ESCO
from dagster_project.warehouse.connection_leases import connections_in_use, set_limit
from dagster_project.warehouse.esco_store import registry_meter_count
from dagster_project.warehouse.raw_tables import ensure_raw_tables

#: The column holding a limit is a PostgreSQL integer; no fleet comes near it anyway.
MAX_LIMIT = 2_147_483_647


@click.group("connections", invoke_without_command=True)
@click.pass_context
def connections(context: click.Context) -> None:
    """Simultaneous meter connections per ESCO: each ESCO's limit, the slots held now and the
    runs holding them. Every run that contacts meters (sync, daily logs, write path) shares
    these caps; ESCOs without a limit of their own get FLOWS_EMOP_MAX_CONNECTIONS_PER_ESCO."""
    if context.invoked_subcommand is not None:
        return
    limit = settings().max_connections_per_esco
    default = limit or "none (ESCOs without a limit are not capped)"
    click.echo(f"default limit ({MAX_CONNECTIONS_PER_ESCO}): {default}")
    with open_database() as conn:
        rows = connections_in_use(conn)
    if not rows:
        click.echo("no ESCO has a limit of its own, and no connection slot is held")
        return
    click.echo(f"{'esco':36}  {'limit':>7}  {'in use':>6}  since (UTC)          runs")
    for row in rows:
        limit = "default" if row.max_connections is None else str(row.max_connections)
        since = row.oldest_taken_at.strftime("%Y-%m-%d %H:%M:%S") if row.oldest_taken_at else ""
        click.echo(
            f"{row.esco!s:36}  {limit:>7}  {row.in_use:>6}  {since:19}  {', '.join(row.runs)}"
        )


# A negative limit ("-1") would otherwise be taken for an unknown option, and the message would
# not say it is the limit that is wrong.
@connections.command("limit", context_settings={"ignore_unknown_options": True})
@click.argument("esco", type=click.UUID)
@click.argument("max_connections", type=click.IntRange(1, MAX_LIMIT), required=False)
@click.option("--clear", is_flag=True, help="Drop the ESCO's own limit: the default applies.")
def limit(esco: uuid.UUID, max_connections: int | None, clear: bool) -> None:
    """Cap ESCO at MAX_CONNECTIONS simultaneous meter connections (or --clear its limit).
    ESCO must be in the meter registry (--clear also takes one that only has a limit left).
    Runs that start afterwards keep to it; runs already reading keep the limit they began with."""
    if (max_connections is None) == (not clear):
        raise click.UsageError("give MAX_CONNECTIONS, or --clear")
    with open_database() as conn:
        ensure_raw_tables(conn)
        if not registry_meter_count(conn, esco):
            # A mistyped UUID would otherwise get a limit no run ever consults. A limit left
            # behind by an ESCO that has since left the registry may still be cleared.
            has_limit = any(
                row.esco == esco and row.max_connections is not None
                for row in connections_in_use(conn)
            )
            if not (clear and has_limit):
                click.echo(
                    f"error: ESCO {esco} has no meter in the meter registry "
                    "(flows_raw.meter_registry): check the UUID, or load the registry first",
                    err=True,
                )
                sys.exit(2)
        set_limit(conn, esco, None if clear else max_connections)
    if clear:
        click.echo(f"ESCO {esco}: own limit dropped, the default applies")
    else:
        click.echo(f"ESCO {esco}: at most {max_connections} simultaneous meter connections")
    click.echo("runs that start from now on keep to it; runs already reading keep their limit")
