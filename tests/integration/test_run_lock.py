"""Two `flows run` on one database take turns: the second waits for the first, naming it, since
two dbt builds at once replace each other's tables. Each run is a process of its own."""

from __future__ import annotations

import subprocess
import sys

import psycopg

from dagster_project.cli.run import run_lock_holder
from dagster_project.paths import PROJECT_ROOT
from dagster_project.warehouse.connection import scratch_database

# Holds the run lock of the database given, says so, and lets go when told (a line on stdin).
HOLDER = """
import sys
from dagster_project.cli.run import one_run_at_a_time
from dagster_project.warehouse.connection import DatabaseTarget

with one_run_at_a_time(DatabaseTarget(sys.argv[1], embedded=False)):
    print("holding", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


def holder(database_url: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, database_url],
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def said(process: subprocess.Popen) -> str:
    assert process.stdout is not None
    return process.stdout.readline().strip()


def release(process: subprocess.Popen) -> None:
    assert process.stdin is not None
    process.stdin.write("\n")
    process.stdin.flush()


def test_a_second_run_on_the_database_waits_for_the_first_and_names_it(database_url: str) -> None:
    # A database of its own: no other test's run can hold the lock meanwhile.
    with scratch_database(database_url, "flows_lock") as url:
        take_turns(url)


def take_turns(database_url: str) -> None:
    first = holder(database_url)
    try:
        assert said(first) == "holding"
        second = holder(database_url)
        try:
            waiting = said(second)
            assert waiting.startswith(f"flows run (pid {first.pid}) is running on ")
            assert waiting.endswith(": waiting for it to end")
            release(first)
            assert said(first) == "released"
            # Only now, the first having let go, does the second get the lock.
            assert said(second) == "holding"
            release(second)
            assert said(second) == "released"
        finally:
            second.kill()
            second.wait(60)
    finally:
        first.kill()
        first.wait(60)


def test_a_run_on_another_database_of_the_server_is_not_named_as_the_holder(
    database_url: str,
) -> None:
    with (
        scratch_database(database_url, "flows_lock") as elsewhere,
        scratch_database(database_url, "flows_lock") as here,
    ):
        other = holder(elsewhere)
        try:
            assert said(other) == "holding"
            with psycopg.connect(here, autocommit=True) as conn:
                # Advisory locks belong to one database: nothing holds this one's.
                assert run_lock_holder(conn) is None
        finally:
            other.kill()
            other.wait(60)
