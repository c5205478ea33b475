"""A registry shaped like a real operator's export, loaded through `make run`'s path.

tests/fixtures/registry_export.csv is written by hand the way registry exports come: a BOM and
CRLF line ends, columns the pipeline does not use (SIM ids, site, firmware), empty flags, mixed
single-phase models, three-phase meters (EMP1AX / EMP1CX serials, P1.ax / P1.cx or no model),
passive, disabled and deleted meters, a name with a comma, upper-case values, and a handful of
rows an operator got wrong. Its addresses are on loopback where nothing listens, so every meter
that is polled fails to connect: the test is about what the pipeline does with each kind of row.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagster_project.domain.registry import (
    NOT_POLLED_DISABLED,
    NOT_POLLED_PASSIVE,
    UNSUPPORTED_HARDWARE,
)
from dagster_project.warehouse.connection import connect, scratch_database
from tests.support.flows_cli import flows

EXPORT = Path(__file__).parents[1] / "fixtures" / "registry_export.csv"
THREE_PHASE = {"EMP1AX0000041902", "EMP1AX0000041903", "EMP1CX0000007711", "EMP1AX0000041950"}
PASSIVE = {"EML2137580830", "EML2137580850"}
DISABLED = {"EML2137580833", "EML2137580852"}
DELETED = {"EML2137580831", "EML2137580832"}
# Rows 14-16, 28, 29 and 32: a bad address, a serial on two rows, a short serial, an ESCO
# code where the UUID belongs, and an installation status the registry does not know.
REJECTED_ROWS = {14, 15, 16, 28, 29, 32}
ROWS = 32
POLLED = ROWS - len(REJECTED_ROWS) - len(THREE_PHASE | PASSIVE | DISABLED | DELETED)


@pytest.fixture(scope="module")
def export_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("export")


@pytest.fixture(scope="module")
def export_run(database_url: str, export_home: Path) -> Iterator[tuple]:
    with scratch_database(database_url, "flows_export") as url:
        env = {
            **os.environ,
            "FLOWS_DATABASE_URL": url,
            "FLOWS_REGISTRY_CSV": str(EXPORT),
            "FLOWS_STATE_DIR": str(export_home / "state"),
            "DAGSTER_HOME": str(export_home / "dagster"),
            # Nothing answers on these addresses: give up on each meter at once.
            "FLOWS_EMOP_ATTEMPTS": "1",
            "FLOWS_EMOP_TIMEOUT_SECONDS": "2",
            "FLOWS_EMOP_MIN_GAP_SECONDS": "0",
        }
        result = flows("run", env=env, check=False)
        with connect(url, autocommit=True) as conn:
            yield result, conn


def test_every_good_row_loads_and_each_bad_row_is_rejected_with_its_line(export_run) -> None:
    result, conn = export_run
    rejected = conn.execute(
        "select distinct row_number from flows_raw.meter_registry_rejects"
    ).fetchall()
    assert {row for (row,) in rejected} == REJECTED_ROWS
    loaded = conn.execute("select count(*) from flows.meter_registry").fetchone()[0]
    assert loaded == ROWS - len(REJECTED_ROWS)
    assert f"{loaded} loaded, {len(REJECTED_ROWS)} rejected" in result.stdout


def test_three_phase_disabled_and_passive_meters_are_skipped_not_failed(export_run) -> None:
    _, conn = export_run
    outcomes = dict(
        conn.execute(
            "select serial, outcome || coalesce(': ' || error_message, '') "
            "from flows_raw.meter_sync_snapshots where outcome = 'skipped'"
        ).fetchall()
    )
    assert set(outcomes) == THREE_PHASE | PASSIVE | DISABLED
    for serial in THREE_PHASE:
        assert outcomes[serial] == f"skipped: not polled: {UNSUPPORTED_HARDWARE}"
    assert {outcomes[serial] for serial in DISABLED} == {
        f"skipped: not polled: {NOT_POLLED_DISABLED}"
    }
    # Every polled meter failed to connect, and no other counts towards an outage.
    failed = conn.execute(
        "select count(*) filter (where outcome = 'failed'), count(*) filter (where outcome = 'ok') "
        "from flows_raw.meter_sync_snapshots"
    ).fetchone()
    assert failed == (POLLED, 0)


def test_deleted_meters_are_in_the_registry_mart_only(export_run) -> None:
    _, conn = export_run
    statuses = dict(conn.execute("select serial, installation_status from flows.meter_registry"))
    assert {serial for serial, status in statuses.items() if status == "deleted"} == DELETED
    shadows = {
        serial
        for (serial,) in conn.execute(
            "select registry.serial from flows.meter_shadows as shadows "
            "join flows.meter_registry as registry using (id)"
        )
    }
    offline = {serial for (serial,) in conn.execute("select serial from flows.meters_offline_all")}
    assert not DELETED & shadows
    synced = conn.execute("select serial from flows_raw.meter_sync_snapshots").fetchall()
    assert not DELETED & {serial for (serial,) in synced}
    # Not polled: present in the shadows, marked so, and never "offline".
    assert shadows >= THREE_PHASE | PASSIVE | DISABLED
    assert not (THREE_PHASE | PASSIVE | DISABLED) & offline
    reasons = dict(
        conn.execute(
            "select registry.serial, shadows.not_polled_reason from flows.meter_shadows as shadows "
            "join flows.meter_registry as registry using (id) where not shadows.polled"
        )
    )
    assert {reasons[serial] for serial in PASSIVE} == {NOT_POLLED_PASSIVE}
    assert {reasons[serial] for serial in THREE_PHASE} == {UNSUPPORTED_HARDWARE}
    # Every polled meter failed, so every one of them is offline (never reached).
    assert offline == shadows - (THREE_PHASE | PASSIVE | DISABLED)


def test_empty_flags_stay_unknown_until_a_meter_reports_them(export_run) -> None:
    _, conn = export_run
    flags = conn.execute(
        "select serial, prepay_enabled, prepay_enabled_registry, prepay_enabled_reported "
        "from flows.meter_registry where serial in ('EML2137580826', 'EML2137580827')"
        "order by serial"
    ).fetchall()
    assert flags == [("EML2137580826", None, None, None), ("EML2137580827", True, True, None)]


def test_a_run_in_which_every_polled_meter_fails_exits_3_and_says_so(
    export_run, export_home: Path
) -> None:
    # Every meter the run polls is at an address where nothing listens: the sync runs, every
    # read fails, the fleet_outage check is an error. A cron job must see it.
    result, _ = export_run
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"sync:            0 ok, {POLLED} failed" in result.stdout
    progress = f"    sync: {POLLED} of {POLLED} meters (0 ok, {POLLED} failed)"
    assert progress in result.stdout.splitlines(), result.stdout
    assert "error-severity check(s) did not pass (exit 3)" in result.stdout
    assert "fleet_outage" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert len(result.stdout.splitlines()) < 40
    # The full log is in the file the summary names, not on the terminal.
    log_file = export_home / "state" / "flows-run.log"
    assert f"full log:        {log_file}" in result.stdout
    assert "Finished dbt command" in log_file.read_text()
    assert "Finished dbt command" not in result.stdout + result.stderr
