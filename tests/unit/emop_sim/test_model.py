"""The meter model: determinism, money, top-ups, credit floor, registers, drift, tariffs, logs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from dagster_project.emop import objects as o
from dagster_project.emop import values as v
from dagster_project.emop.data import (
    EventLogRequest,
    ProfileLogRequest,
    ProfileStatus,
    decode_event_log_response,
    decode_profile_log_response,
)
from dagster_project.emop.errors import AckNak
from dagster_project.emop.tariffs import Tariff, future_tariff_writes
from dagster_project.simulator.clock import EMOP_EPOCH_UNIX, STEP_SECONDS
from dagster_project.simulator.model import (
    EC,
    EVENT_DAILY_SNAPSHOT,
    EVENT_TOPUP,
    MONEY,
    RATE_A,
    RATE_B,
    SC,
    MeterModel,
)
from tests.support.sim_model import H0, SEED, at_step, exchange, gbp, make_model

DAY_STEPS = 48


def find_model(predicate: Callable[[MeterModel], bool], **changes: object) -> MeterModel:
    for index in range(400):
        model = make_model(index, **changes)
        if predicate(model):
            return model
    raise AssertionError("no meter in the first 400 matches")


def emop(moment: datetime) -> int:
    return int(moment.timestamp()) - EMOP_EPOCH_UNIX


# ---------------------------------------------------------------- determinism


def test_state_depends_only_on_seed_index_and_time_not_on_polling() -> None:
    end = at_step(3 * DAY_STEPS, 600)
    polled_often = make_model(5)
    t = float(H0)
    while t < end:
        polled_often.ground_truth(t)  # reads in between must not change anything
        t += 7 * 60
    polled_once = make_model(5)
    assert polled_often.ground_truth(end) == polled_once.ground_truth(end)
    assert polled_often.snapshot() == polled_once.snapshot()


def test_other_meters_and_other_seeds_differ() -> None:
    end = at_step(DAY_STEPS)
    base = make_model(5).ground_truth(end)
    assert make_model(6).ground_truth(end) != base
    other_seed = make_model(5, seed=SEED + 1).ground_truth(end)
    assert other_seed.serial != base.serial
    assert other_seed.prepay_balance != base.prepay_balance


# ---------------------------------------------------------------- money


def expected_cost(model: MeterModel, tariff: list[int], wh_a: int, wh_b: int) -> Decimal:
    rate_a, rate_b, standing = (v.money_from_units(tariff[i]) for i in (RATE_A, RATE_B, SC))
    return (
        gbp(Decimal(wh_a) * rate_a / 1000) + gbp(Decimal(wh_b) * rate_b / 1000) + gbp(standing / 48)
    )


def test_balance_falls_by_consumption_at_the_tariff_plus_standing_charge() -> None:
    model = find_model(lambda m: m.twin and m.prepay_enabled and m.balance > 20 * MONEY)
    checked_night = checked_day = False
    for k in range(1, DAY_STEPS + 1):
        before = model.ground_truth(at_step(k - 1))
        tariff = list(model.active)
        events = len(model.events)
        after = model.ground_truth(at_step(k))
        topped_up = any(
            e[1] == EVENT_TOPUP for e in list(model.events)[: len(model.events) - events]
        )
        if topped_up or model.balance <= -model.active[EC]:
            continue
        wh_a = after.element_a.active_import_wh - before.element_a.active_import_wh
        wh_b = after.element_b.active_import_wh - before.element_b.active_import_wh
        assert wh_a > 0
        cost = expected_cost(model, tariff, wh_a, wh_b)
        assert before.prepay_balance - after.prepay_balance == cost
        checked_night |= wh_b > 0
        checked_day |= wh_b == 0
    assert checked_night and checked_day


def test_top_ups_raise_the_balance_and_log_event_48_inside_their_half_hour() -> None:
    model = make_model(3, prepay_enabled=True)
    model.balance = 2 * MONEY  # low balance: top-ups are likely
    model.mean_wh = 20.0
    top_ups = 0
    for k in range(1, 3 * DAY_STEPS):
        newest = model.events[0]
        balance = model.balance
        model.sync(at_step(k))
        new_events = list(model.events)[: list(model.events).index(newest)]
        topup_events = [e for e in new_events if e[1] == EVENT_TOPUP]
        if model.balance > balance:
            top_ups += 1
            assert len(topup_events) == 1
            stamp = topup_events[0][0] + EMOP_EPOCH_UNIX
            assert at_step(k - 1) < stamp < at_step(k)
            assert (model.balance - balance) % MONEY < MONEY  # whole pounds, less the cost
        else:
            assert topup_events == []
    assert top_ups >= 2
    counts = [e[2] for e in model.events if e[1] == EVENT_TOPUP]
    assert counts[: top_ups + 1] == sorted(counts[: top_ups + 1], reverse=True)


def test_emergency_credit_is_the_floor_and_supply_stops_there() -> None:
    model = make_model(4, prepay_enabled=True)
    model.balance = 50 * (MONEY // 100)  # 50p
    model.mean_wh = 20_000.0  # a very heavy user: runs out within a few half hours
    floor = -model.active[EC]
    stopped_steps = 0
    for k in range(1, 4 * DAY_STEPS):
        before = model.ground_truth(at_step(k - 1))
        after = model.ground_truth(at_step(k))
        assert model.balance >= floor
        if before.prepay_balance == after.prepay_balance == v.money_from_units(floor):
            stopped_steps += 1
            assert after.element_a == before.element_a
            assert after.element_b == before.element_b
    assert stopped_steps > 0


def test_credit_mode_never_stops_supply_or_charges() -> None:
    model = make_model(4, prepay_enabled=False)
    model.balance = 0
    truth = model.ground_truth(at_step(DAY_STEPS))
    assert truth.prepay_balance == 0
    assert truth.element_a.active_import_wh > make_model(4).import_a


# ---------------------------------------------------------------- registers and measurements


def test_registers_grow_by_element_and_time_of_day() -> None:
    model = find_model(lambda m: m.twin and m.solar, prepay_enabled=False)
    start = model.ground_truth(at_step(0))
    previous = start
    night_b = day_b = day_export = night_export = 0
    for k in range(1, DAY_STEPS + 1):
        now = model.ground_truth(at_step(k))
        for field in ("active_import_wh", "active_export_wh", "reactive_import_varh"):
            assert getattr(now.element_a, field) >= getattr(previous.element_a, field)
        grown_b = now.element_b.active_import_wh - previous.element_b.active_import_wh
        exported = now.element_a.active_export_wh - previous.element_a.active_export_wh
        hour = (k - 1) // 2  # the step's starting hour, UTC
        if hour < 7:
            night_b += grown_b
            night_export += exported
        else:
            day_b += grown_b
            day_export += exported
        assert Decimal("230.0") <= now.voltage <= Decimal("250.0")
        assert 0 <= now.csq <= 31 and 0 <= now.csq_operator <= 7
        previous = now
    assert previous.element_a.active_import_wh > start.element_a.active_import_wh
    assert night_b > 0 and day_b == 0
    assert day_export > 0 and night_export == 0


def test_single_element_meters_have_no_element_b() -> None:
    model = find_model(lambda m: not m.twin)
    truth = model.ground_truth(at_step(DAY_STEPS))
    assert truth.element_b == v.ElementRegisters(0, 0, 0, 0)
    assert truth.hardware in ("B1.w", "EMA1.w")


# ---------------------------------------------------------------- clock drift


@pytest.mark.parametrize("sign", [1, -1])
def test_clock_drift_grows_at_the_meter_rate_either_way(sign: int) -> None:
    model = find_model(lambda m: m.drift_rate * sign > 20e-6)
    early = model.ground_truth(at_step(0)).clock_time_diff_seconds
    later = model.ground_truth(at_step(0) + 10 * 86400).clock_time_diff_seconds
    assert (later - early) * sign == pytest.approx(abs(model.drift_rate) * 10 * 86400, abs=1)
    assert later * sign > early * sign


def test_accurate_meters_stay_within_a_second() -> None:
    model = find_model(lambda m: m.drift_rate == 0)
    for days in (0, 5, 30):
        assert abs(model.ground_truth(at_step(0) + days * 86400).clock_time_diff_seconds) <= 1


def test_a_clock_write_sets_the_drift_to_about_zero() -> None:
    model = find_model(lambda m: abs(m.drift0) > 30)
    t = at_step(10, 7.25)
    assert abs(model.ground_truth(t).clock_time_diff_seconds) > 30
    written = datetime.fromtimestamp(int(t), UTC)
    reply = exchange(
        model, bytes([1]) + o.CLOCK.id_bytes + b"\x01" + v.encode_time_record(written), t
    )
    assert reply.ack_nak == 0
    assert model.ground_truth(t).clock_time_diff_seconds == 0
    clock = exchange(model, bytes([1]) + o.CLOCK.id_bytes + b"\x00", t + 60)
    meter_time = v.decode_time_record(clock.data[5:])
    assert abs((meter_time - written).total_seconds() - 60) <= 1


# ---------------------------------------------------------------- tariffs

NEW_TARIFF = Tariff(
    standing_charge=Decimal("0.61234"),
    unit_rate_element_a=Decimal("0.31111"),
    unit_rate_element_b=Decimal("0.15555"),
    prepayment_ecredit_availability=Decimal("8.00000"),
    prepayment_debt_recovery_rate=Decimal("0.20000"),
    prepayment_emergency_credit=Decimal("12.00000"),
    activation_datetime=datetime(2024, 7, 10, 0, 0),  # the meter's wall clock
)


def write_future_tariff(model: MeterModel, t: float) -> None:
    dst_off = exchange(model, bytes([1]) + o.DST_FLAG.id_bytes + b"\x01\x00", t)
    assert dst_off.ack_nak == 0
    now = datetime.fromtimestamp(int(t), UTC)
    exchange(model, bytes([1]) + o.CLOCK.id_bytes + b"\x01" + v.encode_time_record(now), t)
    for obj, payload in future_tariff_writes(NEW_TARIFF):
        reply = exchange(model, bytes([1]) + obj.id_bytes + b"\x01" + payload, t)
        assert reply.ack_nak == 0, obj


def active_rate(model: MeterModel, moment: datetime) -> Decimal:
    return model.ground_truth(moment.timestamp()).tariffs_active.unit_rate_element_a


def test_future_tariff_activates_at_its_utc_time_without_dst_correction() -> None:
    model = find_model(lambda m: m.prepay_enabled and m.balance > 20 * MONEY)
    write_future_tariff(model, datetime(2024, 7, 9, 12, tzinfo=UTC).timestamp())
    old = model.ground_truth(datetime(2024, 7, 9, 12, tzinfo=UTC).timestamp()).tariffs_active
    assert old.unit_rate_element_a != NEW_TARIFF.unit_rate_element_a
    future = model.ground_truth(datetime(2024, 7, 9, 12, tzinfo=UTC).timestamp()).tariffs_future
    assert future == NEW_TARIFF
    assert active_rate(model, datetime(2024, 7, 9, 23, 30, tzinfo=UTC)) == old.unit_rate_element_a
    assert (
        active_rate(model, datetime(2024, 7, 9, 23, 59, 0, tzinfo=UTC)) == old.unit_rate_element_a
    )
    after = model.ground_truth(datetime(2024, 7, 10, 0, 0, 30, tzinfo=UTC).timestamp())
    expected_active = Tariff(**{**vars(NEW_TARIFF), "activation_datetime": None})
    assert after.tariffs_active == expected_active
    # the half hour from 00:00 is charged at the new rates
    before_step = model.ground_truth(datetime(2024, 7, 10, 0, 0, tzinfo=UTC).timestamp())
    events = len(model.events)
    after_step = model.ground_truth(datetime(2024, 7, 10, 0, 30, tzinfo=UTC).timestamp())
    assert len(model.events) == events  # no top-up in that half hour (this seed and meter)
    wh_a = after_step.element_a.active_import_wh - before_step.element_a.active_import_wh
    wh_b = after_step.element_b.active_import_wh - before_step.element_b.active_import_wh
    assert model.active[RATE_A] == v.units_from_money(NEW_TARIFF.unit_rate_element_a)
    cost = expected_cost(model, list(model.active), wh_a, wh_b)
    assert before_step.prepay_balance - after_step.prepay_balance == cost


def test_future_tariff_activates_at_uk_local_time_with_dst_correction() -> None:
    model = make_model(9)
    t = datetime(2024, 7, 9, 12, tzinfo=UTC).timestamp()
    write_future_tariff(model, t)
    exchange(model, bytes([1]) + o.DST_FLAG.id_bytes + b"\x01\x01", t)
    assert model.ground_truth(t).dst_enabled
    # midnight BST on 10 July is 23:00 UTC on the 9th
    old_rate = active_rate(model, datetime(2024, 7, 9, 22, 59, 0, tzinfo=UTC))
    assert old_rate != NEW_TARIFF.unit_rate_element_a
    new_rate = active_rate(model, datetime(2024, 7, 9, 23, 0, 30, tzinfo=UTC))
    assert new_rate == NEW_TARIFF.unit_rate_element_a


def test_without_dst_correction_the_same_tariff_waits_for_utc_midnight() -> None:
    model = make_model(9)
    write_future_tariff(model, datetime(2024, 7, 9, 12, tzinfo=UTC).timestamp())
    assert not model.ground_truth(datetime(2024, 7, 9, 12, tzinfo=UTC).timestamp()).dst_enabled
    rate = active_rate(model, datetime(2024, 7, 9, 23, 30, tzinfo=UTC))
    assert rate != NEW_TARIFF.unit_rate_element_a


def test_activation_follows_the_meter_clock_including_its_drift() -> None:
    model = find_model(lambda m: m.drift_rate > 0 and m.drift0 > 120 and not m.dst_enabled)
    t = datetime(2024, 7, 9, 12, tzinfo=UTC).timestamp()
    for obj, payload in future_tariff_writes(NEW_TARIFF):
        exchange(model, bytes([1]) + obj.id_bytes + b"\x01" + payload, t)
    ahead = model.ground_truth(t).clock_time_diff_seconds
    assert ahead > 120
    moment = datetime(2024, 7, 10, tzinfo=UTC) - timedelta(seconds=ahead - 30)
    assert active_rate(model, moment) == NEW_TARIFF.unit_rate_element_a


# ---------------------------------------------------------------- profile logs


def profile(model: MeterModel, log: int, start: datetime, t: float) -> list:
    reply = exchange(model, ProfileLogRequest(log, start).encode(), t)
    assert reply.ack_nak == 0 and reply.length == 0x61
    response = decode_profile_log_response(reply.data)
    assert response.echo == emop(start).to_bytes(4, "big")
    return response.records(twin_element=model.twin)


def test_profile_records_accumulate_every_half_hour() -> None:
    model = find_model(lambda m: m.twin)
    t = at_step(6, 100)  # 03:01:40 on the first day: 7 records, 00:00 .. 03:00
    first = datetime.fromtimestamp(H0, UTC)
    records = profile(model, 1, first, t)
    assert [r.timestamp for r in records] == [first + timedelta(minutes=30 * n) for n in range(5)]
    assert records[0].status == ProfileStatus.RESET
    assert all(r.status == ProfileStatus.VALID_DATA for r in records[1:])
    imports = [r.import_a_wh for r in records]
    assert imports == sorted(imports) and imports[-1] > imports[0]
    tail = profile(model, 1, first + timedelta(hours=2), t)
    assert [r.timestamp for r in tail] == [first + timedelta(minutes=m) for m in (120, 150, 180)]
    truth = model.ground_truth(t)
    assert tail[-1].import_a_wh == truth.element_a.active_import_wh
    assert tail[-1].import_b_wh == truth.element_b.active_import_wh
    # half an hour later there is one record more
    later = profile(model, 1, first + timedelta(hours=2), t + STEP_SECONDS)
    assert len(later) == 4


def test_profile_request_time_semantics() -> None:
    model = find_model(lambda m: not m.twin)
    t = at_step(DAY_STEPS, 5)
    first = datetime.fromtimestamp(H0, UTC)
    # between records: starts at the next one
    records = profile(model, 1, first + timedelta(minutes=61), t)
    assert records[0].timestamp == first + timedelta(minutes=90)
    # before the log: starts at the first record
    records = profile(model, 1, first - timedelta(days=30), t)
    assert records[0].timestamp == first and records[0].status == ProfileStatus.RESET
    # at the newest record: just that one; after it: nothing yet (zero block)
    newest = first + timedelta(days=1)
    assert [r.timestamp for r in profile(model, 1, newest, t)] == [newest]
    assert profile(model, 1, newest + timedelta(seconds=1), t) == []


def test_profile_log_2_carries_export_reactive_and_voltage() -> None:
    t = at_step(DAY_STEPS)
    first = datetime.fromtimestamp(H0, UTC) + timedelta(hours=12)
    single = find_model(lambda m: not m.twin and m.solar)
    records = profile(single, 2, first, t)
    assert len(records) == 3
    assert all(2300 <= r.voltage_raw <= 2500 for r in records)
    assert records[-1].active_export_a_wh >= records[0].active_export_a_wh
    assert records[0].active_export_b_wh is None  # single element: no B fields
    twin = find_model(lambda m: m.twin)
    records = profile(twin, 2, first, t)
    assert len(records) == 2
    assert records[0].reactive_import_b_varh is not None
    truth = twin.ground_truth(t)
    last = profile(twin, 2, datetime.fromtimestamp(t, UTC), t)[0]
    assert last.reactive_import_a_varh == truth.element_a.reactive_import_varh
    assert last.voltage_raw == int(truth.voltage * 10)


# ---------------------------------------------------------------- event log and tokens


def event_page(model: MeterModel, page: int, t: float) -> list:
    reply = exchange(model, EventLogRequest(page).encode(), t)
    assert reply.ack_nak == 0 and reply.length == 0x4D
    response = decode_event_log_response(reply.data)
    assert response.page == page
    return list(response.entries)


def test_event_log_pages_are_newest_first_and_zero_padded() -> None:
    model = make_model(2)
    t = at_step(14 * DAY_STEPS)
    model.sync(t)
    total = len(model.events)
    assert total > 10  # daily snapshots and top-ups over two weeks
    page0, page1 = event_page(model, 0, t), event_page(model, 1, t)
    assert len(page0) == 10
    entries = page0 + page1
    stamps = [e.timestamp for e in entries]
    assert stamps == sorted(stamps, reverse=True)
    assert sum(1 for e in entries if e.event_id == EVENT_DAILY_SNAPSHOT) >= 5
    last_page = total // 10
    assert len(event_page(model, last_page, t)) == total % 10
    assert event_page(model, 9, t) == [] or total > 90


def test_a_token_credits_its_first_five_digits_in_pence_once_and_is_refused_after() -> None:
    model = make_model(1)
    t = at_step(3, 10)
    before = model.ground_truth(t).prepay_balance
    token = b"01250987654321098765"  # 01250 pence = £12.50
    write = bytes([1]) + o.PREPAY_TOKEN.id_bytes + b"\x01" + token
    reply = exchange(model, write, t)
    assert reply.ack_nak == 0 and reply.data == bytes([1]) + o.PREPAY_TOKEN.id_bytes + b"\x01"
    assert model.ground_truth(t).prepay_balance == before + Decimal("12.50")
    events = event_page(model, 0, t)
    assert events[0].event_id == EVENT_TOPUP
    repeat = exchange(model, write, t)  # a used token is refused and credits nothing
    assert repeat.ack_nak == AckNak.ACCESS_DENIED
    assert model.ground_truth(t).prepay_balance == before + Decimal("12.50")
    assert event_page(model, 0, t) == events
    bad = exchange(model, bytes([1]) + o.PREPAY_TOKEN.id_bytes + b"\x01" + b"12345", t)
    assert bad.ack_nak == 3


def test_old_profile_records_are_dropped_beyond_the_capacity() -> None:
    spec = make_model(0).spec
    model = MeterModel(spec, SEED, H0, H0 + 86400, profile_capacity=10)
    t = at_step(200)
    model.sync(t)
    records = profile(model, 1, datetime.fromtimestamp(H0, UTC), t)
    assert records[0].timestamp > datetime.fromtimestamp(H0, UTC)  # the start is gone
    assert records[0].status == ProfileStatus.VALID_DATA
    assert 10 <= len(model.log) // 4 <= 10 + 48
