"""Load the infrastructure files of a directory, kind by kind, each against what is in force.

A good file replaces its kind; one that cannot be read, or a file that is gone while its kind
has rows, keeps the kind loaded before and is reported as a problem (the asset's check fails
on it) without holding up the other files or the fleet. A kind with no file and no rows is
simply not kept by this operator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg

from dagster_project.domain.infrastructure import (
    KINDS,
    InfrastructureFileError,
    InfrastructureReject,
    KeyIndex,
    key_index,
    read_infrastructure_file,
)
from dagster_project.warehouse.infrastructure_store import replace_infrastructure, rows_in_force


@dataclass(frozen=True)
class KindLoad:
    """What became of one kind's file."""

    kind: str
    path: Path
    #: loaded (the file replaced the kind), kept (the kind in force stays: see `problem`) or
    #: absent (no file, nothing in force).
    outcome: str
    rows: int = 0
    rejects: list[InfrastructureReject] = field(default_factory=list)
    problem: str | None = None


def load_infrastructure(
    conn: psycopg.Connection,
    directory: Path,
    loaded_at: datetime,
    say: Callable[[str], None] = lambda _: None,
) -> list[KindLoad]:
    """Each kind's file of `directory` validated against the kinds before it and loaded."""
    known: dict[str, KeyIndex] = {}
    loads = []
    for kind in KINDS:
        path = directory / kind.file_name
        try:
            parsed = read_infrastructure_file(kind, path, known) if path.exists() else None
        except InfrastructureFileError as error:
            parsed, problem = None, f"{error}; the {kind.name} loaded before are kept"
        else:
            problem = None
        if parsed is not None:
            replace_infrastructure(conn, parsed, str(path), loaded_at)
            known[kind.name] = key_index(kind, parsed.rows)
            load = KindLoad(kind.name, path, "loaded", len(parsed.rows), parsed.rejects)
        else:
            in_force = rows_in_force(conn, kind)
            known[kind.name] = key_index(kind, in_force)
            if problem is None and in_force:
                problem = (
                    f"{path} is gone; the {len(in_force)} {kind.name} loaded before are kept "
                    "(a file with only its header row clears them)"
                )
            outcome = "absent" if problem is None else "kept"
            load = KindLoad(kind.name, path, outcome, len(in_force), problem=problem)
        say(_summary(load))
        loads.append(load)
    return loads


def _summary(load: KindLoad) -> str:
    if load.outcome == "loaded":
        return f"{load.kind}: {load.rows} loaded, {len(load.rejects)} problems ({load.path})"
    if load.outcome == "kept":
        return f"{load.kind}: {load.problem}"
    return f"{load.kind}: no {load.path.name}, none loaded"
