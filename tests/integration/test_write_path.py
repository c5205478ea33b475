"""The write path against simulated meters over TCP and a real PostgreSQL.

Tariff changes across the spring clock change on meters with and without daylight-saving
correction, an ESCO-wide change with meters offline, and top-up tokens whose answer or request
is lost on the way: every token credits its meter exactly once. The meters' own behaviour comes
from the simulator; the lost answers are the simulator's `truncated` and `silent` faults, which
stand in for a cellular network dropping a frame.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import set_json_loads

from dagster_project.domain import tariff_requests as tr
from dagster_project.domain.registry import parse_registry_csv
from dagster_project.domain.rules import write_rules
from dagster_project.domain.tariff_push import WriteRetryPolicy, meter_wall_time
from dagster_project.domain.topups import QueuedToken
from dagster_project.emop import objects as o
from dagster_project.emop.client import EmopClient
from dagster_project.emop.state import MeterEndpoint
from dagster_project.emop.tariffs import Tariff
from dagster_project.paths import PROJECT_ROOT
from dagster_project.services.write_path import WriteReport, run_write_path
from dagster_project.settings import DATABASE_URL
from dagster_project.simulator import FleetConfig, SimMeter, token_credit_units
from dagster_project.simulator.model import MONEY
from dagster_project.warehouse import connection, write_store
from dagster_project.warehouse.connection import scratch_database
from dagster_project.warehouse.raw_tables import ensure_raw_tables
from dagster_project.warehouse.registry_store import replace_registry
from dagster_project.warehouse.tariff_store import insert_request, meters_for_target
from dagster_project.warehouse.write_store import (
    WriteJournal,
    insert_covered_meters,
    insert_token,
    open_tokens,
)
from tests.support.fleet_thread import FleetThread
from tests.support.simulated import QUICK_EMOP, write_fleet_registry

#: A fault that hits only the token's write: the serial read before it is answered.
TOKEN_WRITE = (o.PREPAY_TOKEN.object_id,)

FLOWS = str(Path(sys.executable).with_name("flows"))
QUICK = QUICK_EMOP.client_settings()
POLICY = WriteRetryPolicy()  # first retry after 15 minutes
YEAR = datetime.now(UTC).year + 1
# 1 April is after the spring clock change every year: UK midnight is 23:00 UTC the day before.
APRIL_FIRST_UK = f"{YEAR}-04-01T00:00"
APRIL_FIRST_INSTANT = datetime(YEAR, 3, 31, 23, 0, tzinfo=UTC)
TARIFF = {
    "standing_charge": "0.61234",
    "unit_rate_element_a": "0.31415",
    "unit_rate_element_b": "0.14142",
    "prepayment_ecredit_availability": "12.5",
    "prepayment_debt_recovery_rate": "0.3",
    "prepayment_emergency_credit": "17.25",
}


@pytest.fixture
def fleet_thread() -> Iterator[FleetThread]:
    config = FleetConfig(meters=4, seed=2027, freeze_model=True, port=0, esco_count=1)
    thread = FleetThread(config)
    with thread:
        yield thread


@pytest.fixture
def url(database_url: str, fleet_thread: FleetThread, tmp_path: Path) -> Iterator[str]:
    """A database of the test's own with the fleet's registry: every meter an active, dual-rate
    prepay meter, so one ESCO-wide request covers them all."""
    path = write_fleet_registry(
        fleet_thread.fleet,
        tmp_path / "registry.csv",
        mode="active",
        hardware="C1.w",
        prepay_enabled="true",
    )
    parsed = parse_registry_csv(path.read_text().splitlines(keepends=True))
    assert parsed.rejects == []
    with scratch_database(database_url, "flows_writes") as private_url:
        with connection.connect(private_url) as conn:
            ensure_raw_tables(conn)
            replace_registry(conn, parsed.meters, [], "registry.csv", datetime.now(UTC))
        yield private_url


@pytest.fixture
def conn(url: str) -> Iterator[psycopg.Connection]:
    with connection.connect(url, autocommit=True) as conn:
        set_json_loads(partial(json.loads, parse_float=Decimal), conn)
        yield conn


def request_change(
    conn: psycopg.Connection, target: tr.Target, activation: str = APRIL_FIRST_UK
) -> tr.TariffChangeRequest:
    """Store a request through the same checks `flows tariff set` applies."""
    arguments = tr.TariffArguments(**TARIFF, activation=activation)
    now = datetime.now(UTC)
    with conn.transaction():
        meters = meters_for_target(conn, target)
        check = tr.check_request(target, arguments, meters, now, "test")
        assert check.ok, check.problems
        request = tr.build_request(target, check, "test", requested_at=now)
        insert_request(conn, request)
        insert_covered_meters(conn, request, check.meters)
    return request


def run_at(url: str, moment: datetime, policy: WriteRetryPolicy = POLICY) -> WriteReport:
    with connection.connect(url, autocommit=True) as conn:
        report = run_write_path(conn, QUICK, policy, clock=lambda: moment, run_id="test")
    assert report is not None
    return report


def push_log(conn: psycopg.Connection) -> dict[str, list[dict]]:
    cursor = conn.execute("select * from flows_raw.tariff_push_log order by serial, attempt")
    names = [column.name for column in cursor.description]
    out: dict[str, list[dict]] = {}
    for row in cursor:
        record = dict(zip(names, row, strict=True))
        out.setdefault(record["serial"], []).append(record)
    return out


def topup_log(conn: psycopg.Connection) -> list[dict]:
    cursor = conn.execute("select * from flows_raw.topup_log order by attempt")
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def client_call(coroutine_of_client) -> object:  # type: ignore[no-untyped-def]
    async def go() -> object:
        async with EmopClient(QUICK) as client:
            return await coroutine_of_client(client)

    return asyncio.run(go())


def endpoint(meter: SimMeter) -> MeterEndpoint:
    return MeterEndpoint(meter.host, meter.port, meter.serial)


def set_dst_flag(meter: SimMeter, enabled: bool) -> None:
    client_call(lambda c: c.write(endpoint(meter), o.DST_FLAG, bytes([enabled])))


def requested_money(tariff: Tariff) -> dict[str, Decimal]:
    return {name: getattr(tariff, name) for name in TARIFF}


WANTED = {name: Decimal(value) for name, value in TARIFF.items()}


# ---------------------------------------------------------------- tariffs


def test_a_change_after_the_spring_clock_change_activates_at_the_requested_instant_on_both_kinds_of_meter(  # noqa: E501
    fleet_thread: FleetThread, url: str, conn: psycopg.Connection
) -> None:
    fleet = fleet_thread.fleet
    uk_meter, utc_meter = fleet.meters[0], fleet.meters[1]
    set_dst_flag(uk_meter, True)
    set_dst_flag(utc_meter, False)
    for meter in (uk_meter, utc_meter):
        request_change(conn, tr.MeterTarget(meter.serial))

    now = datetime.now(UTC)
    report = run_at(url, now)
    assert report.tariff_outcomes == {"verified": 2}

    log = push_log(conn)
    uk, utc = log[uk_meter.serial], log[utc_meter.serial]
    assert [row["outcome"] for row in uk + utc] == ["verified", "verified"]
    # Each meter reads its activation on its own clock: UK local time, or UTC.
    assert (uk[0]["dst_enabled"], uk[0]["meter_activation"]) == (True, datetime(YEAR, 4, 1, 0, 0))
    assert (utc[0]["dst_enabled"], utc[0]["meter_activation"]) == (
        False,
        datetime(YEAR, 3, 31, 23, 0),
    )
    for row in (uk[0], utc[0]):
        assert row["written_at"] is not None and row["reason"] is None
        assert row["read_back"]["activation_datetime"] == row["meter_activation"].isoformat()

    # Take the meters to ten minutes before the instant, clocks set right, then past it.
    fleet.freeze(APRIL_FIRST_INSTANT - timedelta(minutes=10))
    for meter in (uk_meter, utc_meter):
        client_call(lambda c, m=meter: c.write_clock(endpoint(m)))
        assert requested_money(meter.ground_truth().tariffs_active) != WANTED
        assert requested_money(meter.ground_truth().tariffs_future) == WANTED
    fleet.advance(timedelta(minutes=20))
    for meter in (uk_meter, utc_meter):
        assert requested_money(meter.ground_truth().tariffs_active) == WANTED


def test_an_esco_wide_change_reaches_offline_meters_when_they_return(
    fleet_thread: FleetThread, url: str, conn: psycopg.Connection
) -> None:
    fleet = fleet_thread.fleet
    offline = [fleet.meters[2], fleet.meters[3]]
    for meter in offline:
        fleet_thread.call(fleet.set_fault(meter.index, "offline"))
    (esco,) = {m.spec.esco for m in fleet.meters}
    request = request_change(conn, tr.EscoTarget(str(esco)))
    covered = conn.execute(
        "select serial from flows_raw.tariff_change_request_meters where request_id = %s",
        (request.request_id,),
    ).fetchall()
    assert sorted(serial for (serial,) in covered) == sorted(m.serial for m in fleet.meters)

    now = datetime.now(UTC)
    report = run_at(url, now)
    assert report.tariff_outcomes == {"verified": 2, "failed": 2}
    log = push_log(conn)
    for meter in offline:
        (row,) = log[meter.serial]
        assert row["outcome"] == "failed" and not row["flagged"]
        assert meter.serial in row["reason"] and "refused" in row["reason"]
        assert row["next_attempt_after"] == now + POLICY.first_wait
        assert row["written_at"] is None

    # Not due yet: nothing is tried, nothing is logged.
    assert run_at(url, now + timedelta(minutes=5)).tariff_outcomes == {}
    assert sum(len(rows) for rows in push_log(conn).values()) == 4

    for meter in offline:
        fleet_thread.call(fleet.set_fault(meter.index, None))
    report = run_at(url, now + POLICY.first_wait)
    assert report.tariff_outcomes == {"verified": 2}
    log = push_log(conn)
    for meter in fleet.meters:
        attempts = [row["outcome"] for row in log[meter.serial]]
        assert attempts == (["failed", "verified"] if meter in offline else ["verified"])
        truth = meter.ground_truth()
        assert requested_money(truth.tariffs_future) == WANTED
        assert truth.tariffs_future.activation_datetime == meter_wall_time(
            request.activation_at, truth.dst_enabled
        )

    # Verified everywhere: later runs write nothing again.
    assert run_at(url, now + timedelta(days=1)).tariff_outcomes == {}


def test_a_newer_request_supersedes_an_unsent_one_and_replaces_a_held_one(
    fleet_thread: FleetThread, url: str, conn: psycopg.Connection
) -> None:
    meter = fleet_thread.fleet.meters[0]
    target = tr.MeterTarget(meter.serial)
    first = request_change(conn, target, f"{YEAR}-05-01T00:00")
    now = datetime.now(UTC)
    run_at(url, now)  # the meter now holds the first
    second = request_change(conn, target, f"{YEAR}-06-01T00:00")
    third = request_change(conn, target, f"{YEAR}-07-01T00:00")
    run_at(url, now + timedelta(minutes=1))

    outcomes = {
        (row["request_id"], row["attempt"]): (row["outcome"], row["reason"])
        for row in push_log(conn)[meter.serial]
    }
    assert outcomes[(first.request_id, 1)][0] == "verified"
    assert outcomes[(second.request_id, 1)][0] == "superseded"
    assert str(third.request_id) in (outcomes[(second.request_id, 1)][1] or "")
    assert outcomes[(third.request_id, 1)][0] == "verified"
    # The first was on the meter; it is superseded only once the third was written over it.
    assert outcomes[(first.request_id, 2)][0] == "superseded"
    truth = meter.ground_truth()
    assert truth.tariffs_future.activation_datetime == meter_wall_time(
        third.activation_at, truth.dst_enabled
    )


def test_a_mixed_esco_change_gives_the_night_rate_to_twin_element_meters_and_a_meter_gone_is_cancelled(  # noqa: E501
    fleet_thread: FleetThread, url: str, conn: psycopg.Connection
) -> None:
    fleet = fleet_thread.fleet
    single, gone = fleet.meters[1], fleet.meters[3]
    # The registry knows one meter as single-rate: the request gives it no night rate.
    conn.execute(
        "update flows_raw.meter_registry set hardware = 'B1.w' where serial = %s",
        (single.serial,),
    )
    (esco,) = {m.spec.esco for m in fleet.meters}
    request = request_change(conn, tr.EscoTarget(str(esco)))
    # Then a meter leaves the registry before the write path runs.
    registry_row = conn.execute(
        "delete from flows_raw.meter_registry where serial = %s returning *", (gone.serial,)
    ).fetchone()

    now = datetime.now(UTC)
    report = run_at(url, now)
    assert report.tariff_outcomes == {"verified": 3, "cancelled": 1}
    log = push_log(conn)
    assert gone.serial not in log  # never tried
    for meter in fleet.meters:
        if meter is gone:
            continue
        (row,) = log[meter.serial]
        assert row["outcome"] == "verified"
        future = meter.ground_truth().tariffs_future
        night = Decimal(0) if meter is single else WANTED["unit_rate_element_b"]
        assert requested_money(future) == {**WANTED, "unit_rate_element_b": night}
    assert requested_money(gone.ground_truth().tariffs_future) != WANTED

    cancelled = conn.execute(
        "select serial, cancelled_at, cancel_reason from flows_raw.tariff_change_request_meters "
        "where request_id = %s and cancelled_at is not null",
        (request.request_id,),
    ).fetchall()
    assert cancelled == [(gone.serial, now, f"meter {gone.serial} left the registry")]
    # The meter comes back: the change stays cancelled, and is not pushed.
    assert registry_row is not None
    conn.execute(
        "insert into flows_raw.meter_registry values ("
        + ", ".join(["%s"] * len(registry_row))
        + ")",
        registry_row,
    )
    assert run_at(url, now + timedelta(hours=1)).tariff_outcomes == {}
    assert requested_money(gone.ground_truth().tariffs_future) != WANTED


# ---------------------------------------------------------------- tokens


def queue(conn: psycopg.Connection, meter: SimMeter, token: str) -> uuid.UUID:
    token_id = insert_token(
        conn,
        meter_id=meter.spec.id,
        serial=meter.serial,
        token=token,
        requested_by="test",
        requested_at=datetime.now(UTC),
    )
    assert token_id is not None
    return token_id


def balance(meter: SimMeter) -> Decimal:
    return meter.ground_truth().prepay_balance


def test_a_token_whose_answer_is_lost_credits_once_and_the_retry_learns_it_was_applied(
    fleet_thread: FleetThread, url: str, conn: psycopg.Connection
) -> None:
    fleet = fleet_thread.fleet
    meter = fleet.meters[0]
    token = "01250987654321098765"  # £12.50 on the simulator
    credit = Decimal(token_credit_units(token)) / MONEY
    queue(conn, meter, token)
    before = balance(meter)

    # The meter confirms who it is, gets the token and credits it; half its answer to the
    # token is lost on the way back.
    fleet_thread.call(fleet.set_fault(meter.index, "truncated", TOKEN_WRITE))
    now = datetime.now(UTC)
    assert run_at(url, now).token_outcomes == {"unknown": 1}
    assert balance(meter) == before + credit
    (first,) = topup_log(conn)
    assert first["outcome"] == "unknown" and first["next_attempt_after"] == now + POLICY.first_wait

    fleet_thread.call(fleet.set_fault(meter.index, None))
    assert run_at(url, now + POLICY.first_wait).token_outcomes == {"already_used": 1}
    assert balance(meter) == before + credit  # the resend credited nothing
    second = topup_log(conn)[1]
    assert second["outcome"] == "already_used" and not second["flagged"]
    assert "attempt 1 credited it" in second["reason"]

    # Finished: never sent again.
    assert run_at(url, now + timedelta(days=1)).token_outcomes == {}
    assert len(topup_log(conn)) == 2


def test_a_token_whose_request_is_lost_is_sent_again_and_credits_once(
    fleet_thread: FleetThread, url: str, conn: psycopg.Connection
) -> None:
    fleet = fleet_thread.fleet
    meter = fleet.meters[1]
    token = "00500111122223333444"  # £5.00
    queue(conn, meter, token)
    before = balance(meter)

    # Confirms who it is, then takes the token and never answers.
    fleet_thread.call(fleet.set_fault(meter.index, "silent", TOKEN_WRITE))
    now = datetime.now(UTC)
    assert run_at(url, now).token_outcomes == {"unknown": 1}
    assert balance(meter) == before

    fleet_thread.call(fleet.set_fault(meter.index, None))
    assert run_at(url, now + POLICY.first_wait).token_outcomes == {"applied": 1}
    assert balance(meter) == before + Decimal(token_credit_units(token)) / MONEY


def test_a_run_that_died_mid_send_leaves_evidence_and_the_next_run_does_not_credit_twice(
    fleet_thread: FleetThread, url: str, conn: psycopg.Connection
) -> None:
    meter = fleet_thread.fleet.meters[2]
    token = "02000555566667777888"  # £20.00
    queue(conn, meter, token)
    before = balance(meter)

    # What a run does up to the moment it dies: log 'sending', send; the outcome never logged.
    (queued,) = open_tokens(conn)
    assert isinstance(queued, QueuedToken)
    WriteJournal(conn, run_id="died").token_sending(queued, datetime.now(UTC))
    client_call(lambda c: c.send_token(endpoint(meter), token))
    credited = before + Decimal(token_credit_units(token)) / MONEY
    assert balance(meter) == credited

    assert run_at(url, datetime.now(UTC)).token_outcomes == {"already_used": 1}
    assert balance(meter) == credited
    assert [row["outcome"] for row in topup_log(conn)] == ["sending", "already_used"]


def test_an_offline_meter_gets_its_token_when_it_returns_and_other_meters_are_not_held_up(
    fleet_thread: FleetThread, url: str, conn: psycopg.Connection
) -> None:
    fleet = fleet_thread.fleet
    away, home = fleet.meters[3], fleet.meters[0]
    queue(conn, away, "01000000000000000001")
    queue(conn, home, "01000000000000000002")
    before_away, before_home = balance(away), balance(home)
    fleet_thread.call(fleet.set_fault(away.index, "offline"))

    now = datetime.now(UTC)
    report = run_at(url, now)
    assert report.token_outcomes == {"applied": 1, "not_sent": 1}
    assert balance(home) == before_home + Decimal(10) and balance(away) == before_away

    fleet_thread.call(fleet.set_fault(away.index, None))
    assert run_at(url, now + POLICY.first_wait).token_outcomes == {"applied": 1}
    assert balance(away) == before_away + Decimal(10)


def test_tokens_of_a_meter_that_left_the_registry_or_was_deleted_are_cancelled_and_never_sent(
    fleet_thread: FleetThread, url: str, conn: psycopg.Connection
) -> None:
    fleet = fleet_thread.fleet
    gone, deleted, kept = fleet.meters[1], fleet.meters[2], fleet.meters[0]
    gone_token = queue(conn, gone, "00500000000000000011")
    deleted_token = queue(conn, deleted, "00500000000000000012")
    queue(conn, kept, "00500000000000000013")
    # The token to the meter later deleted was sent once and its answer was lost.
    fleet_thread.call(fleet.set_fault(deleted.index, "truncated", TOKEN_WRITE))
    fleet_thread.call(fleet.set_fault(gone.index, "offline"))
    now = datetime.now(UTC)
    assert run_at(url, now).token_outcomes == {"applied": 1, "unknown": 1, "not_sent": 1}
    fleet_thread.call(fleet.set_fault(deleted.index, None))
    fleet_thread.call(fleet.set_fault(gone.index, None))
    before = {meter.serial: balance(meter) for meter in (gone, deleted)}

    conn.execute("delete from flows_raw.meter_registry where serial = %s", (gone.serial,))
    conn.execute(
        "update flows_raw.meter_registry set installation_status = 'deleted' where serial = %s",
        (deleted.serial,),
    )
    later = now + timedelta(days=1)
    report = run_at(url, later)
    assert report.token_outcomes == {"cancelled": 2}
    assert {serial for serial, _, _ in report.problems} == {gone.serial, deleted.serial}
    assert {meter.serial: balance(meter) for meter in (gone, deleted)} == before  # never sent

    rows = {
        token_id: (at, why)
        for token_id, at, why in conn.execute(
            "select token_id, cancelled_at, cancel_reason from flows_raw.topup_tokens "
            "where cancelled_at is not null"
        )
    }
    assert rows.keys() == {gone_token, deleted_token}
    assert rows[gone_token] == (later, f"meter {gone.serial} left the registry")
    cancelled_at, reason = rows[deleted_token]
    assert cancelled_at == later and f"meter {deleted.serial} is deleted" in reason
    # Its only attempt may have credited it: whoever refunds the customer is told so.
    assert "attempt 1 was lost" in reason and "may have credited it" in reason

    # Cancelled is final: a later run, with the meters back, leaves them alone.
    conn.execute(
        "update flows_raw.meter_registry set installation_status = 'enabled' where serial = %s",
        (deleted.serial,),
    )
    assert run_at(url, later + timedelta(days=1)).token_outcomes == {}
    assert balance(deleted) == before[deleted.serial]


# ---------------------------------------------------------------- what needs a person


def test_writes_given_up_on_and_changes_running_late_are_reported_by_meter(
    fleet_thread: FleetThread, url: str, conn: psycopg.Connection
) -> None:
    fleet = fleet_thread.fleet
    reached, unreachable, never_tried = fleet.meters[0], fleet.meters[1], fleet.meters[2]
    fleet_thread.call(fleet.set_fault(unreachable.index, "offline"))
    for meter in (reached, unreachable):
        request_change(conn, tr.MeterTarget(meter.serial))
    queue(conn, unreachable, "00700000000000000042")

    one_try = WriteRetryPolicy(max_attempts=1)
    now = datetime.now(UTC)
    report = run_at(url, now, one_try)
    assert report.flagged == 2  # the tariff change and the token of the unreachable meter

    verdict = write_rules.judge_tariff_changes(write_store.stuck_tariff_changes(conn, now))
    assert (verdict.passed, verdict.severity) == (False, "ERROR")
    assert [(m["serial"], m["state"]) for m in verdict.meters] == [(unreachable.serial, "given up")]
    assert "gave up after 1 attempts" in verdict.meters[0]["reason"]

    # A change nobody could push before its activation time is late, not given up on.
    late = request_change(conn, tr.MeterTarget(never_tried.serial), f"{YEAR}-02-01T12:00")
    after = late.activation_at + timedelta(minutes=1)
    stuck = write_store.stuck_tariff_changes(conn, after)
    assert {(s.serial, s.flagged) for s in stuck} == {
        (unreachable.serial, True),
        (never_tried.serial, False),
    }
    only_late = write_rules.judge_tariff_changes([s for s in stuck if not s.flagged])
    assert only_late.severity == "WARN" and only_late.counts["changes_late"] == 1

    tokens = write_rules.judge_tokens(write_store.flagged_tokens(conn))
    assert (tokens.passed, tokens.severity) == (False, "ERROR")
    (row,) = tokens.meters
    assert (row["serial"], row["token"], row["last_outcome"]) == (
        unreachable.serial,
        "...0042",
        "not_sent",
    )
    # Nothing more is tried for either, however long we wait.
    assert run_at(url, now + timedelta(days=2), one_try).token_outcomes == {}


# ---------------------------------------------------------------- flows topup


def flows_topup(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, DATABASE_URL: url}
    return subprocess.run(
        [FLOWS, "topup", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
    )


def test_flows_topup_queues_a_token_once_and_refuses_bad_ones_with_reasons(
    fleet_thread: FleetThread, url: str, conn: psycopg.Connection
) -> None:
    meter = fleet_thread.fleet.meters[0]
    token = "7146 6394 6215 8916 1020"
    done = flows_topup(url, "--serial", meter.serial, "--token", token)
    assert done.returncode == 0, done.stderr
    assert "...1020 queued for meter " + meter.serial in done.stdout
    assert "71466394621589161020" not in done.stdout + done.stderr
    (stored,) = conn.execute("select serial, token from flows_raw.topup_tokens").fetchall()
    assert stored == (meter.serial, "71466394621589161020")

    again = flows_topup(url, "--serial", meter.serial, "--token", token.replace(" ", ""))
    assert again.returncode == 2 and "already queued" in again.stderr

    bad = flows_topup(url, "--serial", "EML9999999999", "--token", "12345")
    assert bad.returncode == 2
    assert "token = (5 characters ending '2345'): a token has 20 digits, this has 5" in bad.stderr
    assert "meter EML9999999999: serial = 'EML9999999999': not in the meter registry" in bad.stderr
    assert conn.execute("select count(*) from flows_raw.topup_tokens").fetchone() == (1,)
