"""The marts' thresholds come from the dbt project's vars, and the run summary states the ones
in force rather than numbers of its own."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import yaml

from dagster_project.cli.run import RunReport, report_text
from dagster_project.domain.rules.fleet_rules import Thresholds
from dagster_project.paths import DBT_PROJECT_DIR
from dagster_project.warehouse.connection import DatabaseTarget
from dagster_project.warehouse.dbt_vars import MartThresholds, mart_thresholds


def project_with(tmp_path: Path, **changed: object) -> Path:
    """A copy of the project's dbt_project.yml with some vars changed."""
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    project["vars"].update(changed)
    (tmp_path / "dbt_project.yml").write_text(yaml.safe_dump(project))
    return tmp_path


def report(thresholds: MartThresholds) -> RunReport:
    return RunReport(
        run_ids=["a"],
        target=DatabaseTarget(url="postgresql://flows@db.example/flows", embedded=False),
        registry_rows=3,
        rejected_rows=0,
        meters_ok=3,
        meters_failed=0,
        meters_skipped=0,
        low_balance=1,
        offline=2,
        profile_records=0,
        export_records=0,
        events=0,
        registry_source="registry.csv",
        thresholds=thresholds,
    )


def test_the_thresholds_are_read_from_the_dbt_vars(tmp_path: Path) -> None:
    changed = project_with(
        tmp_path,
        low_balance_threshold_gbp=12.5,
        offline_after_hours=6,
        offline_recent_hours=48,
        clock_drift_threshold_seconds=90,
    )
    assert mart_thresholds(changed) == MartThresholds(Decimal("12.5"), 6, 48, 90)


def test_the_summary_states_the_thresholds_in_force(tmp_path: Path) -> None:
    changed = mart_thresholds(
        project_with(tmp_path, low_balance_threshold_gbp=12.5, offline_after_hours=6)
    )
    text = report_text(report(changed), "http://127.0.0.1:3000")
    assert "1 meters under £12.50 (flows.meters_low_balance)" in text
    assert "2 meters with no contact for 6 hours or ever" in text


def test_the_clock_drift_check_defaults_to_the_marts_threshold() -> None:
    from dagster_project.defs.checks.fleet import CheckThresholds

    in_force = CheckThresholds().thresholds()
    assert in_force.clock_drift_warn_seconds == mart_thresholds().clock_drift_seconds
    assert isinstance(in_force, Thresholds)
