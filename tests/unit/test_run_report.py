"""What `flows run` prints: the counts, and every check that did not pass."""

from __future__ import annotations

from dagster import AssetCheckEvaluation, AssetCheckSeverity, AssetKey

from dagster_project.cli.run import RunReport, check_problem, report_text
from dagster_project.warehouse.connection import DatabaseTarget


def test_a_check_that_did_not_pass_is_one_line_naming_it() -> None:
    evaluation = AssetCheckEvaluation(
        asset_key=AssetKey(["flows", "meter_shadows"]),
        check_name="clock_drift",
        passed=False,
        severity=AssetCheckSeverity.ERROR,
        description="2 meter(s) 60 s or more out, 1 over 300 s; worst 400 s",
    )
    assert check_problem(evaluation) == (
        "clock_drift on flows/meter_shadows (error): "
        "2 meter(s) 60 s or more out, 1 over 300 s; worst 400 s"
    )


def test_the_summary_lists_the_checks_after_the_counts() -> None:
    report = RunReport(
        run_ids=["a", "b"],
        target=DatabaseTarget(url="postgresql://flows@db.example/flows", embedded=False),
        registry_rows=10,
        rejected_rows=0,
        meters_ok=9,
        meters_failed=1,
        meters_skipped=0,
        low_balance=2,
        offline=1,
        profile_records=480,
        export_records=0,
        events=12,
        registry_source="registry.csv",
        tariff_pushes={"verified": 3, "failed": 1},
        checks_passed=40,
        check_problems=["csq_drops on flows/meter_csq (warn): 1 meter(s) ..."],
    )
    lines = report_text(report, "http://127.0.0.1:3000").splitlines()
    pushes = lines.index("  tariff pushes:   1 failed, 3 verified (flows.tariff_changes)")
    assert lines[pushes + 1] == "  top-up tokens:   none (flows_raw.topup_log)"
    checks = lines.index("  checks:          40 passed, 1 not passed")
    assert lines[checks + 1] == "    csq_drops on flows/meter_csq (warn): 1 meter(s) ..."
    assert lines[checks + 2].startswith("  database:")
