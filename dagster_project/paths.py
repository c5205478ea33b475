"""Where the project keeps its files: the checkout, the dbt project and local state."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
DEMO_REGISTRY_CSV = PACKAGE_DIR / "data" / "meter_registry.csv"
