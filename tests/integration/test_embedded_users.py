"""Several commands on one embedded server: each holds a lease while it runs, the last one stops
the server it started, `flows db stop` refuses while a lease is held, and a process that died
without giving its lease back does not keep the server up for ever. The users are separate
processes, as two `flows run` on one checkout are."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagster_project.paths import PROJECT_ROOT
from dagster_project.settings import DATABASE_URL
from dagster_project.warehouse.embedded import EmbeddedServerInUse
from tests.support.settings import current_settings, embedded_server

FLOWS = str(Path(sys.executable).with_name("flows"))

# A command using the server: it takes a lease, says so, then obeys one word per line.
USER_SCRIPT = """
import sys
import psycopg
from dagster_project.settings import Settings
from dagster_project.warehouse.embedded import EmbeddedServer

with EmbeddedServer(Settings.from_environment().state_dir).in_use(sys.argv[1]) as lease:
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "leave":
            break
        try:
            with psycopg.connect(lease.url, connect_timeout=5) as conn:
                conn.execute("select 1")
            print("ok", flush=True)
        except psycopg.OperationalError:
            print("gone:", lease.gone(), flush=True)
print("left", flush=True)
"""


class User:
    """One user process of the embedded server in the test's state folder."""

    def __init__(self, env: dict[str, str], purpose: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", USER_SCRIPT, purpose],
            env=env,
            cwd=PROJECT_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.said() == "ready"

    @property
    def pid(self) -> int:
        return self.process.pid

    def said(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        assert line, f"user {self.pid} ended without a word (exit {self.process.wait(60)})"
        return line

    def tell(self, word: str) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(word + "\n")
        self.process.stdin.flush()
        return self.said()

    def query(self) -> str:
        return self.tell("query")

    def leave(self) -> None:
        assert self.tell("leave") == "left"
        assert self.process.wait(60) == 0

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(60)


@pytest.fixture(scope="module")
def state() -> Iterator[Path]:
    # Inside the checkout's state folder: as root the server runs as another OS user.
    folder = current_settings().state_dir / f"test-users-{uuid.uuid4().hex[:8]}"
    yield folder
    env = {**os.environ, "FLOWS_STATE_DIR": str(folder)}
    env.pop(DATABASE_URL, None)
    subprocess.run([FLOWS, "db", "stop", "--force"], env=env, capture_output=True, timeout=120)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def env(state: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of the users, and of this test's own calls: the embedded server only."""
    monkeypatch.setenv("FLOWS_STATE_DIR", str(state))
    monkeypatch.delenv(DATABASE_URL)
    assert not embedded_server().status().running
    return dict(os.environ)


def flows(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [FLOWS, *args], env=env, capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT
    )


def test_the_first_user_to_end_leaves_the_server_to_the_second_and_the_last_stops_it(
    env: dict[str, str],
) -> None:
    first = User(env, "first run")
    second = User(env, "second run")
    assert {user.pid for user in embedded_server().live_users()} == {first.pid, second.pid}

    first.leave()
    assert embedded_server().status().running
    assert second.query() == "ok"
    assert [user.pid for user in embedded_server().live_users()] == [second.pid]

    second.leave()
    assert not embedded_server().status().running
    assert embedded_server().live_users() == []


def test_db_stop_refuses_while_a_run_uses_the_server_and_names_it(env: dict[str, str]) -> None:
    run = User(env, "flows run")
    status = flows(env, "db", "status")
    assert f"in use by flows run (pid {run.pid}" in status.stdout

    refused = flows(env, "db", "stop")
    assert refused.returncode != 0
    assert f"in use by flows run (pid {run.pid}" in refused.stderr
    assert "--force" in refused.stderr
    with pytest.raises(EmbeddedServerInUse):
        embedded_server().stop()
    assert run.query() == "ok"

    assert flows(env, "db", "stop", "--force").returncode == 0
    # The run's next query fails, and it can say why rather than show a socket error alone.
    gone = run.query()
    assert gone.startswith("gone: ")
    assert "was stopped by flows db stop --force (pid " in gone
    run.leave()
    assert not embedded_server().status().running


def test_a_user_killed_without_giving_its_lease_back_does_not_keep_the_server_up(
    env: dict[str, str],
) -> None:
    killed = User(env, "killed run")
    killed.kill()
    # Its lease file is still there, but no process holds it.
    assert list(embedded_server().users_dir.glob(f"{killed.pid}-*.json"))
    assert embedded_server().live_users() == []

    later = User(env, "later run")
    assert [user.pid for user in embedded_server().live_users()] == [later.pid]
    later.leave()
    assert not embedded_server().status().running
    assert not list(embedded_server().users_dir.glob("*.json"))


def test_a_server_started_by_db_start_is_left_running_by_its_users(env: dict[str, str]) -> None:
    assert flows(env, "db", "start").returncode == 0
    run = User(env, "flows run")
    run.leave()
    assert embedded_server().status().running
    assert flows(env, "db", "stop").stdout.strip() == "embedded PostgreSQL stopped"
    assert not embedded_server().status().running
