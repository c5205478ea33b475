"""Progress over many meters: a line at every tenth, at least every few seconds, and at the end."""

from __future__ import annotations

from dagster_project.domain.progress import PROGRESS_MARK, Progress, progress_text


def test_a_line_at_every_tenth_and_at_the_end() -> None:
    progress = Progress("sync", total=100, every_seconds=1e9)
    said = [progress.record(ok=n % 10 != 0, now=0.0) for n in range(100)]
    lines = [line for line in said if line]
    assert len(lines) == 10
    assert lines[0] == f"{PROGRESS_MARK}sync: 10 of 100 meters (9 ok, 1 failed)"
    assert lines[-1] == f"{PROGRESS_MARK}sync: 100 of 100 meters (90 ok, 10 failed)"


def test_a_slow_read_still_says_something_every_few_seconds() -> None:
    progress = Progress("sync", total=1000, every_seconds=10.0)
    assert progress.record(ok=True, now=0.0) is None
    assert progress.record(ok=True, now=9.9) is None
    assert (
        progress.record(ok=True, now=10.0)
        == f"{PROGRESS_MARK}sync: 3 of 1000 meters (3 ok, 0 failed)"
    )
    assert progress.record(ok=True, now=15.0) is None


def test_a_small_fleet_says_every_meter_and_one_meter_says_once() -> None:
    progress = Progress("logs", total=3, every_seconds=1e9)
    assert all(progress.record(ok=True, now=0.0) for _ in range(3))
    single = Progress("logs", total=1)
    assert (
        single.record(ok=False, now=0.0) == f"{PROGRESS_MARK}logs: 1 of 1 meters (0 ok, 1 failed)"
    )


def test_progress_is_found_in_a_dagster_log_line() -> None:
    line = (
        "2026-12-07 14:18:21 +0000 - dagster - INFO - flows_pipeline - abc - meter_sync - "
        "progress: sync: 5 of 10 meters (5 ok, 0 failed)"
    )
    assert progress_text(line) == "sync: 5 of 10 meters (5 ok, 0 failed)"
    assert progress_text("2026-12-07 - dagster - INFO - something else") is None
