"""`flows connections`: the per-ESCO caps on simultaneous meter connections, and who holds them."""

from __future__ import annotations

import uuid

import click

from dagster_project.cli.common import open_database, settings
from dagster_project.settings import MAX_CONNECTIONS_PER_ESCO
from dagster_project.warehouse.connection_leases import connections_in_use, set_limit


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


@connections.command("limit")
@click.argument("esco", type=click.UUID)
@click.argument("max_connections", type=click.IntRange(min=1), required=False)
@click.option("--clear", is_flag=True, help="Drop the ESCO's own limit: the default applies.")
def limit(esco: uuid.UUID, max_connections: int | None, clear: bool) -> None:
    """Cap ESCO at MAX_CONNECTIONS simultaneous meter connections (or --clear its limit).
    Runs that start afterwards keep to it; runs already reading keep the limit they began with."""
    if (max_connections is None) == (not clear):
        raise click.UsageError("give MAX_CONNECTIONS, or --clear")
    with open_database() as conn:
        set_limit(conn, esco, None if clear else max_connections)
    if clear:
        click.echo(f"ESCO {esco}: own limit dropped, the default applies")
    else:
        click.echo(f"ESCO {esco}: at most {max_connections} simultaneous meter connections")
    click.echo("runs that start from now on keep to it; runs already reading keep their limit")
