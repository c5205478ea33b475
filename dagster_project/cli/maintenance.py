"""`flows db partition`: convert time-series raw tables made by an earlier version."""

from __future__ import annotations

import sys

import click
import psycopg

from dagster_project.cli.common import settings
from dagster_project.warehouse import connection
from dagster_project.warehouse.raw_tables import (
    PARTITIONED_TABLES,
    ensure_raw_tables,
    partition_existing_table,
)


@click.command("partition")
def partition() -> None:
    """Convert the time-series raw tables (snapshots, profile log, event log) created
    unpartitioned by an earlier version into monthly partitions, keeping every row. Each table
    is locked while its rows are copied: run it between syncs."""
    database = connection.resolve_database(settings())
    try:
        with connection.connect(database.url, autocommit=True) as conn:
            ensure_raw_tables(conn)
            for table in PARTITIONED_TABLES:
                moved = partition_existing_table(conn, table)
                if moved is None:
                    click.echo(f"flows_raw.{table.name}: already partitioned by month")
                else:
                    click.echo(f"flows_raw.{table.name}: partitioned by month, {moved} rows kept")
    except psycopg.OperationalError as error:
        click.echo(f"error: database {database.display_url}: {error}", err=True)
        sys.exit(1)
    except (
        psycopg.Error
    ) as error:  # e.g. a lock not granted: the table being copied stays as it was
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        click.echo(
            f"error: database {database.display_url}: partitioning stopped ({first_line}); "
            "a table not reported above is unchanged, run it again between syncs",
            err=True,
        )
        sys.exit(1)
