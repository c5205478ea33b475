"""Run the dbt CLI against a test database, as a subprocess with the project's environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster_project.paths import DBT_PROJECT_DIR
from dagster_project.warehouse import connection

TARGET_ENV = "FLOWS_TEST_DBT_TARGET"


def target_path() -> str:
    """dbt's target folder for tests, relative to the dbt project. Two test sessions at once on
    one checkout each need their own (FLOWS_TEST_DBT_TARGET); each xdist worker is one, and
    tests/conftest.py gives it its own."""
    return os.environ.get(TARGET_ENV, "target/tests")


def run_dbt(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **connection.dbt_profile_env(database_url)}
    target = target_path()
    dbt = str(Path(sys.executable).with_name("dbt"))
    return subprocess.run(
        [dbt, *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
         str(DBT_PROJECT_DIR), "--target-path", target],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
