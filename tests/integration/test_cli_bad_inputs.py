"""Bad input and unreachable meters at the `flows` command line, as an operator meets them: no
Python traceback, a short message on stderr naming the offending value, and an honest exit
status (2: the input was wrong, nothing done; 1: it could not be done, e.g. no meter there)."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from dagster_project.settings import DATABASE_URL
from dagster_project.warehouse.connection import scratch_database
from tests.support.flows_cli import flows
from tests.support.registry import ESCO, load_registry, registry_row

USAGE, FAILED = 2, 1
#: Click's usage errors take four lines (usage, help hint, blank, error); ours take one.
MAX_STDERR_LINES = 5

METER = registry_row(0)
SERIAL = METER["serial"]
ESCO_NOT_IN_REGISTRY = "44444444-4444-4444-8444-444444444444"

# Port 9 (discard) on loopback is closed: connecting is refused at once. Short timeouts and one
# attempt keep each case well under a second.
CLOSED = ("--host", "127.0.0.1", "--port", "9", "--timeout", "0.5", "--attempts", "1")
EMOP = ("emop", *CLOSED, "--gap", "0")
TARIFF = (
    "tariff", "set", "--serial", SERIAL,
    "--unit-rate-a", "0.2843",
    "--ecredit-availability", "10.00",
    "--debt-recovery-rate", "0.25",
    "--emergency-credit", "15.00",
    "--from", f"{datetime.now(UTC).year + 1}-04-01T00:00",
)  # fmt: skip
TOKEN = "12345678901234567890"


@pytest.fixture(scope="module")
def env(database_url: str) -> Iterator[dict[str, str]]:
    """The environment with a database of this module's own, holding a one-meter registry."""
    with scratch_database(database_url, "flows_bad_inputs") as url:
        load_registry(url, [METER])
        yield {**os.environ, DATABASE_URL: url}


def assert_refused(
    result: subprocess.CompletedProcess,
    expected_code: int,
    named: tuple[str, ...],
    max_lines: int = MAX_STDERR_LINES,
) -> None:
    """The exit status expected, no traceback, a few lines on stderr naming every `named`."""
    stdout, stderr = result.stdout, result.stderr
    shown = f"exit {result.returncode}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    assert result.returncode == expected_code, shown
    assert "Traceback" not in stdout + stderr, shown
    lines = stderr.strip().splitlines()
    assert 1 <= len(lines) <= max_lines, shown
    for text in named:
        assert text in stderr, f"{text!r} not named\n{shown}"


EMOP_COMMANDS = (
    "state", "prepay_balance", "csq", "clock", "tariffs_active", "tariffs_future",
    "registers", "voltage", "event_log",
)  # fmt: skip


@pytest.mark.parametrize("command", EMOP_COMMANDS)
def test_an_unreachable_meter_is_one_line_naming_it(command: str) -> None:
    result = flows(*EMOP, command, env=dict(os.environ), check=False)
    assert_refused(result, FAILED, ("error: meter 127.0.0.1:9", "connection refused"), max_lines=1)
    assert result.stdout == ""


def test_an_unreachable_meter_for_a_profile_log_is_one_line_naming_it() -> None:
    args = ("profile_log_1", "--from", "2024-01-01T00:00")
    result = flows(*EMOP, *args, env=dict(os.environ), check=False)
    assert_refused(result, FAILED, ("error: meter 127.0.0.1:9", "connection refused"), max_lines=1)


BAD_EMOP = [
    pytest.param(("event_log", "--pages", "-3"), ("--pages", "-3"), id="negative pages"),
    pytest.param(("event_log", "--pages", "0"), ("--pages", "0"), id="zero pages"),
    pytest.param(
        ("profile_log_1", "--from", "2024-01-02T00:00", "--to", "2024-01-01T00:00"),
        ("--to 2024-01-01", "--from 2024-01-02"),
        id="to before from",
    ),
    pytest.param(
        ("profile_log_1", "--from", "2024-01-02T00:00", "--to", "2024-01-02T00:00"),
        ("--to", "--from"),
        id="empty range",
    ),
    pytest.param(("profile_log_1", "--from", "garbage"), ("--from", "'garbage'"), id="not a time"),
    pytest.param(
        ("profile_log_1", "--from", "9999-12-31T23:59"),
        ("--from", "9999-12-31T23:59"),
        id="from beyond what a meter holds",
    ),
    pytest.param(
        ("profile_log_1", "--from", "1999-12-31T23:00"),
        ("--from", "1999-12-31T23:00"),
        id="from before the EMOP epoch",
    ),
    pytest.param(("state", "--pages", "2"), ("--pages", "event_log"), id="pages for state"),
    pytest.param(
        ("clock", "--from", "2024-01-01T00:00"), ("--from", "profile_log_1"), id="from for clock"
    ),
    pytest.param(("--timeout", "0", "voltage"), ("--timeout", "0"), id="zero timeout"),
    pytest.param(("--timeout", "-1", "voltage"), ("--timeout", "-1"), id="negative timeout"),
    pytest.param(("--timeout", "nan", "voltage"), ("--timeout", "nan"), id="nan timeout"),
    pytest.param(("--timeout", "inf", "voltage"), ("--timeout", "inf"), id="infinite timeout"),
    pytest.param(("--attempts", "0", "voltage"), ("--attempts", "0"), id="zero attempts"),
    pytest.param(("--gap", "-1", "voltage"), ("--gap", "-1"), id="negative gap"),
    pytest.param(("--port", "0", "voltage"), ("--port", "0"), id="port 0"),
    pytest.param(("--port", "70000", "voltage"), ("--port", "70000"), id="port over 65535"),
    pytest.param(("--port", "-1", "voltage"), ("--port", "-1"), id="negative port"),
    pytest.param(("--host", "", "voltage"), ("--host",), id="empty host"),
]


@pytest.mark.parametrize(("args", "named"), BAD_EMOP)
def test_a_bad_emop_option_is_a_usage_error(args: tuple[str, ...], named: tuple[str, ...]) -> None:
    # The options given last win over EMOP's: the meter is never contacted for a usage error.
    result = flows(*EMOP, *args, env=dict(os.environ), check=False)
    assert_refused(result, USAGE, named)
    assert result.stdout == ""


BAD_SIMULATE = [
    pytest.param(("--meters", "0"), ("--meters", "0"), id="no meters"),
    pytest.param(("--latency", "nan"), ("--latency", "nan"), id="nan latency"),
    pytest.param(("--speed", "0"), ("--speed", "0"), id="zero speed"),
    pytest.param(("--faulty-fraction", "2"), ("--faulty-fraction", "2"), id="fraction over 1"),
    pytest.param(
        ("--addressing", "ports", "--base-port", "70000"), ("--base-port", "70000"), id="port"
    ),
]


@pytest.mark.parametrize(("args", "named"), BAD_SIMULATE)
def test_a_bad_simulate_option_is_a_usage_error(
    args: tuple[str, ...], named: tuple[str, ...]
) -> None:
    result = flows("simulate", *args, env=dict(os.environ), check=False)
    assert_refused(result, USAGE, named)


def test_a_simulator_whose_port_is_taken_says_which_and_how_to_choose_others() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = flows(
            "simulate", "--meters", "1", "--addressing", "ports", "--base-port", port,
            env=dict(os.environ), check=False,
        )  # fmt: skip
    assert_refused(result, FAILED, (f"127.0.0.1:{port}", "--base-port"), max_lines=1)


# (-0 is read as 0, a valid amount: tests/unit/test_tariff_requests.py.)
ODD_AMOUNTS = ["0E-100000", "NaN", "sNaN", "Infinity", "-Infinity", "1e999999", "1_000"]
ODD_AMOUNTS += ["\uff10.\uff15", "+0.5", "1e-3", "0." + "0" * 40]


@pytest.mark.parametrize("amount", ODD_AMOUNTS)
def test_an_odd_amount_is_refused_naming_the_field_and_value(
    env: dict[str, str], amount: str
) -> None:
    result = flows(*TARIFF, "--standing-charge", amount, env=env, check=False)
    assert_refused(result, USAGE, (f"meter {SERIAL}: standing_charge = {amount!r}",))
    assert result.stderr.rstrip().endswith("nothing stored")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        pytest.param(("--token", "abc"), ("token",), id="letters"),
        pytest.param(("--token", "\uff11" * 20), ("token",), id="non-ASCII digits"),
        pytest.param(("--token", ""), ("token", "no token given"), id="empty"),
        pytest.param(("--token", TOKEN, "--requested-by", " "), ("requested_by",), id="nobody"),
        pytest.param(("--serial", "EML2999999999"), ("'EML2999999999'",), id="unknown serial"),
    ],
)
def test_a_bad_topup_is_refused_naming_the_value(
    env: dict[str, str], args: tuple[str, ...], named: tuple[str, ...]
) -> None:
    # Later options win: the defaults below are overridden by the case's own.
    result = flows("topup", "--serial", SERIAL, "--token", TOKEN, *args, env=env, check=False)
    assert_refused(result, USAGE, named)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        pytest.param((ESCO_NOT_IN_REGISTRY, "3"), (ESCO_NOT_IN_REGISTRY,), id="unknown esco"),
        pytest.param(
            (ESCO_NOT_IN_REGISTRY, "--clear"), (ESCO_NOT_IN_REGISTRY,), id="unknown esco clear"
        ),
        pytest.param((ESCO, "0"), ("MAX_CONNECTIONS", "0"), id="zero"),
        pytest.param((ESCO, "-1"), ("MAX_CONNECTIONS", "-1"), id="negative"),
        pytest.param((ESCO, "99999999999"), ("99999999999",), id="beyond an integer"),
        pytest.param(("not-a-uuid", "3"), ("'not-a-uuid'",), id="not a uuid"),
    ],
)
def test_a_bad_connection_limit_is_refused(
    env: dict[str, str], args: tuple[str, ...], named: tuple[str, ...]
) -> None:
    result = flows("connections", "limit", *args, env=env, check=False)
    assert_refused(result, USAGE, named)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        pytest.param((SERIAL, "--by", " "), ("--by",), id="nobody"),
        pytest.param(("EML2999999999", "--by", "ops"), ("'EML2999999999'",), id="unknown"),
    ],
)
def test_a_bad_identity_resolution_is_refused(
    env: dict[str, str], args: tuple[str, ...], named: tuple[str, ...]
) -> None:
    result = flows("identity", "resolve", *args, env=env, check=False)
    assert_refused(result, USAGE, named)
