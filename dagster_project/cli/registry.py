"""`flows registry check FILE`: validate a meter registry file the way the registry asset does,
without touching the database."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dagster_project.cli.common import EXIT_FAILED, EXIT_USAGE, fail
from dagster_project.domain.infrastructure import (
    ESCOS,
    InfrastructureFileError,
    read_infrastructure_file,
)
from dagster_project.domain.registry import RegistryFileError, read_registry_file

#: Enough to act on at a terminal; `--all` prints every one.
REJECTS_SHOWN = 50


@click.group("registry")
def registry() -> None:
    """The meter registry file."""


@registry.command("check")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--all", "show_all", is_flag=True, help="Print every rejected field, not the first 50."
)
def check(path: Path, show_all: bool) -> None:
    """Validate the registry file PATH and print what would be rejected, without loading it.

    Exit 0 when every row is valid, 1 when rows would be rejected (the valid ones would still
    load), 2 when the file cannot be used at all (unreadable, wrong columns). ESCOs named by
    code are looked up in the escos.csv beside the file, as the asset looks them up in the
    ESCOs loaded from it."""
    escos = path.parent / ESCOS.file_name
    try:
        known = read_infrastructure_file(ESCOS, escos, {}).rows if escos.exists() else []
        parsed = read_registry_file(path, {esco["code"]: esco["id"] for esco in known})
    except (RegistryFileError, InfrastructureFileError) as error:
        fail(str(error), EXIT_USAGE)
    rows = len({reject.row_number for reject in parsed.rejects})
    click.echo(
        f"{path}: {len(parsed.meters)} meters valid, {rows} rows rejected "
        f"({len(parsed.rejects)} problems)"
    )
    if escos.exists():
        click.echo(f"  ESCO codes looked up in {escos} ({len(known)} ESCOs)")
    shown = parsed.rejects if show_all else parsed.rejects[:REJECTS_SHOWN]
    for reject in shown:
        click.echo(
            f"  row {reject.row_number} (serial {reject.serial or '?'}): {reject.field} "
            f"{reject.value!r}: {reject.reason}"
        )
    if len(shown) < len(parsed.rejects):
        click.echo(f"  ... and {len(parsed.rejects) - len(shown)} more (--all prints them)")
    if parsed.rejects:
        sys.exit(EXIT_FAILED)
