"""Test-session setup shared by unit and integration tests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # `make test` prepares dbt's manifest; a bare `pytest` on a fresh checkout gets it here,
    # since importing the definitions needs it.
    from dagster_project.dbt_project import flows_dbt_project

    if not flows_dbt_project.manifest_path.exists():
        flows_dbt_project.preparer.prepare(flows_dbt_project)
