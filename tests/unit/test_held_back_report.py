"""`flows run` names the syncs the marts leave out, and says nothing of them when there are none."""

from __future__ import annotations

from dataclasses import replace

from dagster_project.cli.run import RunReport, report_text
from dagster_project.warehouse.connection import DatabaseTarget

REPORT = RunReport(
    run_ids=["a"],
    target=DatabaseTarget(url="postgresql://flows@db.example/flows", embedded=False),
    registry_rows=3,
    rejected_rows=0,
    meters_ok=3,
    meters_failed=0,
    meters_skipped=0,
    low_balance=0,
    offline=0,
    profile_records=0,
    export_records=0,
    events=0,
    registry_source="registry.csv",
)


def test_held_back_syncs_are_one_line_after_the_sync_counts() -> None:
    lines = report_text(replace(REPORT, syncs_awaiting=3, syncs_failed=1), "ui").splitlines()
    sync = lines.index("  sync:            3 ok, 0 failed, 0 skipped")
    assert lines[sync + 1] == (
        "  held back:       3 syncs awaiting the raw checks, 1 failed them: "
        "not in the marts (flows_raw.meter_sync_verdicts)"
    )


def test_no_line_when_every_sync_is_read() -> None:
    assert "held back" not in report_text(REPORT, "ui")
