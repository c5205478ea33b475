"""Where the project keeps its files: the checkout, the dbt project and local state."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
DEMO_REGISTRY_CSV = PACKAGE_DIR / "data" / "meter_registry.csv"


def state_dir() -> Path:
    """The git-ignored folder for local state (embedded database, Dagster home).

    `FLOWS_STATE_DIR` moves it, for example onto a bigger disk.
    """
    return Path(os.environ.get("FLOWS_STATE_DIR", PROJECT_ROOT / ".flows")).resolve()
