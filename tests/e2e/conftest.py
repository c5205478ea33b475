"""Browser tests: Debian's chromium, and a scratch database on the test session's server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagster_project.warehouse.connection import scratch_database

# The session's server (FLOWS_DATABASE_URL's, or the embedded one), as for the integration tests.
from tests.support.database import database_url  # noqa: F401 - a fixture

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def chromium() -> Path:
    """`make test` installs it first (`make browser`); without it the browser test fails."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"the browser test needs Debian's chromium at {CHROMIUM}: run `make browser` as root "
            "(or `apt-get install chromium`)",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture
def e2e_database_url(database_url: str) -> Iterator[str]:  # noqa: F811 - the fixture above
    """A database of the test's own: the UI's runs must not add rows other tests count."""
    with scratch_database(database_url, "flows_e2e") as url:
        yield url
