"""Integration tests run against a fresh PostgreSQL database of the test session's own
(tests/support/database.py): `database_url` (autouse, session-wide) and `db`."""

from __future__ import annotations

from tests.support.database import database_url, db

__all__ = ["database_url", "db"]
