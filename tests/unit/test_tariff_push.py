"""Which tariff change a meter gets, how its activation is encoded, when a failure is retried."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from dagster_project.domain.tariff_push import (
    FAILED,
    SENT,
    SUPERSEDED,
    VERIFIED,
    Cancellation,
    PushAttempt,
    TariffChange,
    WriteRetryPolicy,
    cancellations,
    meter_wall_time,
    plan_meter,
    read_back_differences,
    settle,
    tariff_for_meter,
)
from dagster_project.emop import objects as o
from dagster_project.emop import values as v
from dagster_project.emop.errors import EncodeError
from dagster_project.emop.tariffs import Tariff, future_tariff_writes

NOW = datetime(2027, 3, 20, 12, 0, tzinfo=UTC)
METER = uuid.uuid4()


def change(
    requested_minutes_ago: int,
    activation_in_days: float,
    *,
    outcome: str | None = None,
    attempts: int = 0,
    next_after: datetime | None = None,
    flagged: bool = False,
    rate_b: Decimal | None = Decimal("0.12"),
) -> TariffChange:
    return TariffChange(
        request_id=uuid.uuid4(),
        meter_id=METER,
        serial="EML2137580826",
        requested_at=NOW - timedelta(minutes=requested_minutes_ago),
        activation_at=NOW + timedelta(days=activation_in_days),
        standing_charge=Decimal("0.55"),
        unit_rate_element_a=Decimal("0.28431"),
        unit_rate_element_b=rate_b,
        prepayment_ecredit_availability=Decimal("10"),
        prepayment_debt_recovery_rate=Decimal("0.5"),
        prepayment_emergency_credit=Decimal("15"),
        attempts=attempts,
        last_outcome=outcome,
        next_attempt_after=next_after,
        flagged=flagged,
    )


# ---------------------------------------------------------------- activation per DST flag


@pytest.mark.parametrize(
    ("instant", "dst_wall", "utc_wall"),
    [
        # Midnight UK time in summer is 23:00 UTC the day before.
        (datetime(2027, 4, 1, 23, 0, tzinfo=UTC), "2027-04-02 00:00", "2027-04-01 23:00"),
        # In winter UK time is UTC.
        (datetime(2027, 1, 10, 0, 0, tzinfo=UTC), "2027-01-10 00:00", "2027-01-10 00:00"),
        # Just after the spring change (01:00 UTC on 28 March 2027 became 02:00 BST).
        (datetime(2027, 3, 28, 1, 30, tzinfo=UTC), "2027-03-28 02:30", "2027-03-28 01:30"),
        # Just before it, still GMT.
        (datetime(2027, 3, 28, 0, 30, tzinfo=UTC), "2027-03-28 00:30", "2027-03-28 00:30"),
        # The autumn change (31 October 2027): 00:30 UTC is 01:30 BST, 01:30 UTC is 01:30 GMT.
        (datetime(2027, 10, 31, 0, 30, tzinfo=UTC), "2027-10-31 01:30", "2027-10-31 00:30"),
        (datetime(2027, 10, 31, 1, 30, tzinfo=UTC), "2027-10-31 01:30", "2027-10-31 01:30"),
    ],
)
def test_activation_is_the_meter_wall_time_under_its_dst_flag(
    instant: datetime, dst_wall: str, utc_wall: str
) -> None:
    assert meter_wall_time(instant, dst_enabled=True) == datetime.fromisoformat(dst_wall)
    assert meter_wall_time(instant, dst_enabled=False) == datetime.fromisoformat(utc_wall)


def test_the_tariff_written_carries_the_request_and_a_zero_rate_b_for_single_rate_meters() -> None:
    single = change(5, 3, rate_b=None)
    written = tariff_for_meter(single, dst_enabled=True)
    assert written.unit_rate_element_b == Decimal(0)
    assert written.unit_rate_element_a == single.unit_rate_element_a
    assert written.activation_datetime == meter_wall_time(single.activation_at, True)
    dual = tariff_for_meter(change(5, 3), dst_enabled=False)
    assert dual.unit_rate_element_b == Decimal("0.12")


# The last instant a meter can hold: 0xFFFFFFFF seconds after 2000-01-01 00:00 on its clock.
LAST_STORABLE = datetime(2136, 2, 7, 6, 28, 15, tzinfo=UTC)


@pytest.mark.parametrize("dst_enabled", [True, False], ids=["DST-corrected", "UTC"])
def test_the_last_storable_activation_encodes_as_the_largest_count_and_a_second_more_is_refused(
    dst_enabled: bool,
) -> None:
    at_limit = replace(change(5, 3), activation_at=LAST_STORABLE)
    writes = future_tariff_writes(tariff_for_meter(at_limit, dst_enabled))
    # The activation goes last, so that a half-written set never activates.
    assert writes[-1] == (o.FUTURE_ACTIVATION, v.encode_u32(0xFFFFFFFF))

    too_late = replace(at_limit, activation_at=LAST_STORABLE + timedelta(seconds=1))
    with pytest.raises(EncodeError) as error:
        future_tariff_writes(tariff_for_meter(too_late, dst_enabled))
    assert "activation_datetime 2136-02-07T06:28:16 is after 2136-02-07T06:28:15" in str(
        error.value
    )


def test_read_back_names_each_field_that_differs() -> None:
    wanted = tariff_for_meter(change(5, 3), dst_enabled=True)
    assert read_back_differences(wanted, wanted) == []
    assert read_back_differences(wanted, None) == [
        "the meter holds no future tariff (activation time 0)"
    ]
    held = replace(
        wanted,
        unit_rate_element_a=Decimal("0.3"),
        activation_datetime=wanted.activation_datetime - timedelta(hours=1),  # type: ignore[operator]
    )
    differences = read_back_differences(wanted, held)
    assert len(differences) == 2
    assert differences[0] == "unit_rate_element_a: wanted 0.28431, meter holds 0.3"
    assert differences[1].startswith("activation_datetime: wanted ")


# ---------------------------------------------------------------- which change, when


def test_a_single_new_request_is_pushed_now() -> None:
    new = change(5, 3)
    plan = plan_meter([new], NOW)
    assert plan.push == new and plan.superseded == () and plan.displaced == ()


def test_the_latest_request_wins_and_unsent_older_ones_are_superseded() -> None:
    older = change(60, 10, outcome=FAILED, attempts=1, next_after=NOW)
    newer = change(5, 20)
    plan = plan_meter([newer, older], NOW)
    assert plan.push == newer
    assert plan.superseded == (older,)
    assert plan.latest == newer


def test_an_older_verified_change_not_yet_active_is_displaced_only_by_a_write() -> None:
    held = change(60, 10, outcome=VERIFIED, attempts=1)
    active_already = change(90, -1, outcome=VERIFIED, attempts=1)
    newer = change(5, 20)
    plan = plan_meter([held, active_already, newer], NOW)
    assert plan.push == newer
    assert plan.superseded == ()
    assert plan.displaced == (held,)  # the active one is history, not displaced


def test_a_failed_push_waits_for_its_next_attempt_time() -> None:
    waiting = change(60, 3, outcome=FAILED, attempts=2, next_after=NOW + timedelta(minutes=1))
    assert plan_meter([waiting], NOW).push is None
    assert plan_meter([waiting], NOW + timedelta(minutes=1)).push == waiting


@pytest.mark.parametrize(
    "finished",
    [
        {"outcome": VERIFIED, "attempts": 1},
        {"outcome": SUPERSEDED, "attempts": 1},
        {"outcome": FAILED, "attempts": 10, "flagged": True},
    ],
)
def test_finished_changes_are_never_pushed_again(finished: dict) -> None:  # type: ignore[type-arg]
    assert plan_meter([change(5, 3, **finished)], NOW + timedelta(days=30)).push is None


def test_a_flagged_latest_request_does_not_supersede_the_one_the_meter_holds() -> None:
    held = change(60, 10, outcome=VERIFIED, attempts=1)
    given_up = change(5, 20, outcome=FAILED, attempts=10, flagged=True)
    plan = plan_meter([held, given_up], NOW)
    assert plan.push is None and plan.superseded == () and plan.latest == held


# ---------------------------------------------------------------- retries


def attempt(number: int, outcome: str = FAILED) -> PushAttempt:
    return PushAttempt(
        request_id=uuid.uuid4(),
        meter_id=METER,
        serial="EML2137580826",
        attempt=number,
        started_at=NOW,
        finished_at=NOW,
        outcome=outcome,
        reason="meter EML2137580826: connection refused",
    )


def test_retries_back_off_exponentially_up_to_the_longest_wait_then_flag() -> None:
    policy = WriteRetryPolicy(
        max_attempts=6, first_wait=timedelta(minutes=15), longest_wait=timedelta(hours=1)
    )
    waits = [settle(attempt(n), policy).next_attempt_after for n in range(1, 6)]
    assert [w - NOW for w in waits if w] == [
        timedelta(minutes=15),
        timedelta(minutes=30),
        timedelta(hours=1),
        timedelta(hours=1),
        timedelta(hours=1),
    ]
    last = settle(attempt(6, SENT), policy)
    assert last.flagged and last.next_attempt_after is None
    assert last.reason is not None and last.reason.endswith("gave up after 6 attempts")


def test_verified_and_superseded_attempts_are_not_retried() -> None:
    policy = WriteRetryPolicy()
    for outcome in (VERIFIED, SUPERSEDED):
        settled = settle(attempt(1, outcome), policy)
        assert settled.next_attempt_after is None and not settled.flagged


def test_a_policy_that_could_never_try_is_refused() -> None:
    with pytest.raises(ValueError):
        WriteRetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        WriteRetryPolicy(first_wait=timedelta(hours=2), longest_wait=timedelta(hours=1))


def test_tariff_type_is_the_emop_tariff() -> None:
    assert isinstance(tariff_for_meter(change(1, 1), True), Tariff)


# ---------------------------------------------------------------- meters that have gone


def test_only_unfinished_changes_of_gone_meters_are_cancelled() -> None:
    gone, deleted, here = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    waiting = replace(change(5, 3), meter_id=gone, serial="EML2200000001")
    retrying = replace(
        change(4, 3, outcome=FAILED, attempts=1), meter_id=deleted, serial="EML2200000002"
    )
    pushed = replace(change(3, 3, outcome=SENT, attempts=1), meter_id=gone, serial="EML2200000001")
    finished = [
        replace(change(2, 3, **kwargs), meter_id=gone, serial="EML2200000001")
        for kwargs in (
            {"outcome": VERIFIED, "attempts": 1},
            {"outcome": SUPERSEDED, "attempts": 1},
            {"outcome": FAILED, "attempts": 10, "flagged": True},
        )
    ]
    kept = replace(change(1, 3), meter_id=here, serial="EML2200000003")
    registry = {deleted: "deleted", here: None}

    found = cancellations([waiting, retrying, pushed, *finished, kept], registry)
    assert found == [
        Cancellation(
            waiting.request_id, gone, "EML2200000001", "meter EML2200000001 left the registry"
        ),
        Cancellation(
            retrying.request_id,
            deleted,
            "EML2200000002",
            "meter EML2200000002 is deleted (installation_status 'deleted' in the registry)",
        ),
        Cancellation(
            pushed.request_id, gone, "EML2200000001", "meter EML2200000001 left the registry"
        ),
    ]
