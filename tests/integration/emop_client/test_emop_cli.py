"""`flows simulate` and `flows emop` as a user runs them, in separate processes."""

from __future__ import annotations

import csv
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagster_project.domain.registry import parse_registry_csv

FLOWS = str(Path(sys.executable).with_name("flows"))


@pytest.fixture(scope="module")
def simulated_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[dict[str, str]]]:
    registry = tmp_path_factory.mktemp("sim") / "registry.csv"
    process = subprocess.Popen(
        [FLOWS, "simulate", "--meters", "12", "--seed", "42", "--registry-out", str(registry),
         "--addressing", "ports", "--base-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not registry.exists() or len(registry.read_text().splitlines()) < 1 + 12:
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "simulator did not write its registry"
            time.sleep(0.2)
        with registry.open(newline="") as f:
            rows = list(csv.DictReader(f))
        yield rows
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def emop(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [FLOWS, "emop", "--gap", "0", "--timeout", "2", "--attempts", "1", *args],
        capture_output=True, text=True, timeout=120, env=os.environ,
    )  # fmt: skip


def test_simulator_writes_a_valid_registry_for_exactly_its_fleet(simulated_fleet, tmp_path):
    assert len(simulated_fleet) == 12
    path = tmp_path / "copy.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(simulated_fleet[0]))
        writer.writeheader()
        writer.writerows(simulated_fleet)
    with path.open(newline="") as f:
        result = parse_registry_csv(f)
    assert result.rejects == [] and len(result.meters) == 12


def test_state_as_json_names_the_meter_it_read(simulated_fleet) -> None:
    meter = simulated_fleet[0]
    result = emop("--host", meter["ip_address"], "--port", meter["port"], "--json", "state")
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    assert state["serial"] == meter["serial"]
    assert state["hardware"] == meter["hardware"]
    assert state["errors"] == {}
    assert set(state["tariffs_active"]) == {
        "standing_charge", "unit_rate_element_a", "unit_rate_element_b",
        "prepayment_ecredit_availability", "prepayment_debt_recovery_rate",
        "prepayment_emergency_credit",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["prepay_balance"], "prepay_balance"),
        (["csq"], "csq"),
        (["clock"], "clock_time_diff_seconds"),
        (["tariffs_active"], "standing_charge"),
        (["tariffs_future"], "activation_datetime"),
        (["registers"], "element_a.active_import_wh"),
        (["voltage"], "voltage"),
        (["event_log"], "event_id"),
    ],
)
def test_each_command_prints_a_table(simulated_fleet, command: list[str], expected: str) -> None:
    meter = simulated_fleet[1]
    result = emop("--host", meter["ip_address"], "--port", meter["port"], *command)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


def test_profile_log_from_a_timestamp(simulated_fleet) -> None:
    meter = simulated_fleet[2]
    start = time.strftime("%Y-%m-%dT00:00:00", time.gmtime(time.time() - 86400))
    result = emop(
        "--host", meter["ip_address"], "--port", meter["port"], "--json",
        "profile_log_1", "--from", start, "--to", start.replace("T00:00", "T03:00"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert [r["timestamp"][11:16] for r in records] == [
        "00:00", "00:30", "01:00", "01:30", "02:00", "02:30"
    ]  # fmt: skip
    assert all(a["import_a_wh"] <= b["import_a_wh"] for a, b in itertools.pairwise(records))


def test_an_unreachable_meter_is_an_error_on_stderr_and_a_failing_exit() -> None:
    result = emop("--host", "127.0.0.1", "--port", "9", "prepay_balance")
    assert result.returncode != 0
    assert result.stdout == ""
    assert "connection refused" in result.stderr and "prepay_balance" in result.stderr


def test_a_long_read_says_what_it_is_doing_and_json_stays_clean(simulated_fleet) -> None:
    meter = simulated_fleet[1]
    result = subprocess.run(
        [FLOWS, "emop", "--gap", "0.15", "--timeout", "2", "--attempts", "1",
         "--host", meter["ip_address"], "--port", meter["port"], "--json", "state"],
        capture_output=True, text=True, timeout=120, env=os.environ,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # On stderr, so that scripts reading the JSON on stdout are not disturbed.
    assert result.stderr.startswith(f"reading state from meter {meter['ip_address']}:")
    assert "about 4 s" in result.stderr
    assert json.loads(result.stdout)["serial"] == meter["serial"]
