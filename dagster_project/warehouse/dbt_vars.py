"""The thresholds the marts apply, read from the dbt project's vars (dbt/dbt_project.yml), so
that the Python checks and the run summary use the very values the SQL does."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import yaml

from dagster_project.paths import DBT_PROJECT_DIR


@dataclass(frozen=True)
class MartThresholds:
    #: flows.meters_low_balance: a balance under this, GBP.
    low_balance_gbp: Decimal
    #: flows.meters_offline_all: no successful contact for this long.
    offline_after_hours: int
    #: flows.meters_offline_recently: the last contact within this.
    offline_recent_hours: int
    #: flows.meters_clock_drift and the clock-drift check: an absolute drift at least this.
    clock_drift_seconds: int


def mart_thresholds(project_dir: Path = DBT_PROJECT_DIR) -> MartThresholds:
    """The vars as dbt_project.yml sets them (what `flows run` and the schedules build with)."""
    with (project_dir / "dbt_project.yml").open() as project:
        found = yaml.safe_load(project)["vars"]
    return MartThresholds(
        low_balance_gbp=Decimal(str(found["low_balance_threshold_gbp"])),
        offline_after_hours=int(found["offline_after_hours"]),
        offline_recent_hours=int(found["offline_recent_hours"]),
        clock_drift_seconds=int(found["clock_drift_threshold_seconds"]),
    )
