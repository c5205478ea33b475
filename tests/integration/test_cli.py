"""The `flows` command as a user runs it: `flows run`, `flows db ...`, and the workspace."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from dagster_project.paths import PROJECT_ROOT
from dagster_project.warehouse.connection import connect
from tests.support.flows_cli import flows
from tests.support.settings import current_settings


@pytest.fixture
def isolated_state(tmp_path: Path) -> Path:
    """A state folder of the test's own; nothing should appear in it when a URL is given."""
    return tmp_path / "state"


def registry_snapshot(db: psycopg.Connection) -> list[tuple]:
    """Every column but the load time, which a re-run moves on, and the port, which the
    simulated fleet takes afresh from the OS on each run."""
    return db.execute(
        """
        select id, serial, name, ip_address, hardware, mode, esco, single_meter_app,
               daylight_savings_correction_enabled, prepay_enabled
        from flows.meter_registry order by id
        """
    ).fetchall()


@dataclass(frozen=True)
class TwoRuns:
    """The same `flows run` twice on a given database; the second with --verbose, which
    changes only where the log goes (each run takes a minute, so one pair serves both)."""

    first: subprocess.CompletedProcess
    second: subprocess.CompletedProcess
    after_first: tuple[list[tuple], list[tuple]]
    after_second: tuple[list[tuple], list[tuple]]
    syncs: list[tuple]
    state: Path
    dagster_home: Path


@pytest.fixture(scope="module")
def two_runs(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> TwoRuns:
    home = tmp_path_factory.mktemp("two_runs")
    env = {
        **os.environ,
        "FLOWS_DATABASE_URL": database_url,
        "FLOWS_STATE_DIR": str(home / "state"),
        "DAGSTER_HOME": str(home / "dagster_home"),
    }
    command = ("run", "--simulate", "--meters", "12", "--seed", "8", "--faulty-fraction", "0")
    with connect(database_url, autocommit=True) as db:
        first = flows(*command, env=env)
        after_first = registry_snapshot(db), yesterdays_profile(db)
        second = flows(*command, "--verbose", env=env)
        after_second = registry_snapshot(db), yesterdays_profile(db)
        syncs = db.execute(
            "select count(distinct bucket), sum(meters_ok + meters_failed + meters_skipped)::int "
            "from flows_raw.meter_syncs group by run_id"
        ).fetchall()
    return TwoRuns(
        first, second, after_first, after_second, syncs, home / "state", home / "dagster_home"
    )


def test_run_twice_uses_the_given_database_and_leaves_the_same_rows(two_runs: TwoRuns) -> None:
    assert len(two_runs.after_first[0]) == 12
    assert two_runs.after_second == two_runs.after_first
    assert len(two_runs.after_first[1]) == 12 * 48  # a whole UTC day for every meter, once
    # One new sync per run and bucket, every bucket in each run, each run complete.
    assert two_runs.syncs == [(4, 12), (4, 12)]
    for output in (two_runs.first.stdout, two_runs.second.stdout):
        assert "registry rows:   12 loaded, 0 rejected" in output
        assert "sync:            12 ok, 0 failed, 0 skipped" in output
        assert "(FLOWS_DATABASE_URL)" in output
    # The run history went to DAGSTER_HOME, and no embedded server was started.
    assert (two_runs.dagster_home / "history").exists()
    assert not (two_runs.state / "pgdata").exists()


def test_a_verbose_run_prints_the_dbt_log_instead_of_naming_its_file(two_runs: TwoRuns) -> None:
    assert "Finished dbt command" not in two_runs.first.stdout + two_runs.first.stderr
    assert "full log:" in two_runs.first.stdout
    assert "Finished dbt command" in two_runs.second.stdout + two_runs.second.stderr
    assert "full log:" not in two_runs.second.stdout


def yesterdays_profile(db: psycopg.Connection) -> list[tuple]:
    return db.execute(
        """
        select meter_id, record_timestamp, import_a_wh, import_b_wh from flows_raw.profile_log_1
        where record_timestamp >= date_trunc('day', now() at time zone 'UTC') - interval '1 day'
          and record_timestamp < date_trunc('day', now() at time zone 'UTC')
        order by 1, 2
        """
    ).fetchall()


def test_db_commands_report_an_external_database_without_starting_one(
    database_url: str, isolated_state: Path
) -> None:
    env = {**os.environ, "FLOWS_DATABASE_URL": database_url, "FLOWS_STATE_DIR": str(isolated_state)}
    assert flows("db", "url", env=env).stdout.strip() == database_url
    for command in ("start", "stop"):
        assert "embedded server is not used" in flows("db", command, env=env).stdout
    assert "FLOWS_DATABASE_URL is set" in flows("db", "status", env=env).stdout
    assert "answers" in flows("db", "status", env=env).stdout
    assert not isolated_state.exists()


@pytest.fixture
def embedded_env() -> Iterator[dict[str, str]]:
    # Under the checkout's state folder rather than /tmp: as root the server runs as another OS
    # user, which must be able to reach the folder.
    state = current_settings().state_dir / f"test-embedded-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if k != "FLOWS_DATABASE_URL"}
    env["FLOWS_STATE_DIR"] = str(state)
    yield env
    flows("db", "stop", env=env, check=False)
    shutil.rmtree(state, ignore_errors=True)


def test_embedded_server_lifecycle_keeps_data(embedded_env: dict[str, str]) -> None:
    stopped = flows("db", "status", env=embedded_env, check=False)
    assert stopped.returncode == 3 and "stopped" in stopped.stdout

    url = flows("db", "url", env=embedded_env).stdout.strip()
    assert flows("db", "status", env=embedded_env).stdout.startswith("embedded PostgreSQL running")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create table kept (n int)")
        conn.execute("insert into kept values (42)")

    assert "stopped" in flows("db", "stop", env=embedded_env).stdout
    assert flows("db", "status", env=embedded_env, check=False).returncode == 3
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2).close()

    assert "running" in flows("db", "start", env=embedded_env).stdout
    with psycopg.connect(url) as conn:
        assert conn.execute("select n from kept").fetchall() == [(42,)]


def test_workspace_loads_the_definitions() -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
