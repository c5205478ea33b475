"""Every catalogue object against one simulated meter: sizes, access, refusals, activation."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dagster_project.emop import objects as o
from dagster_project.emop import values as v
from dagster_project.emop.data import DefaultRecord, decode_default
from dagster_project.emop.frame import Frame
from dagster_project.simulator.clock import EMOP_EPOCH_UNIX, STEP_SECONDS
from dagster_project.simulator.model import MeterModel
from tests.support.sim_model import at_step, exchange, make_model

T = at_step(20, 33)
READABLE = [obj for obj in o.SINGLE_PHASE_OBJECTS if obj.readable]
READ_ONLY = [obj for obj in o.SINGLE_PHASE_OBJECTS if not obj.writable]
#: Written and read back byte for byte (the clock reads back the time since, the token not).
READ_WRITE = [
    obj for obj in o.SINGLE_PHASE_OBJECTS if obj.readable and obj.writable and obj is not o.CLOCK
]
#: Not served by a single-phase meter: three-phase ids, the event log outside its own format,
#: the captured unknown id and ids nobody uses.
REFUSED_IDS = [
    *(obj.object_id for obj in o.THREE_PHASE_ONLY),
    0xFFFF49,
    0x800309,
    0xD79600,
    0x123456,
]


def twin_meter() -> MeterModel:
    for index in range(50):
        model = make_model(index)
        if model.twin and model.prepay_enabled:
            return model
    raise AssertionError("no twin-element prepay meter among the first 50")


def read(model: MeterModel, object_id: int, t: float = T) -> Frame:
    return exchange(model, DefaultRecord(object_id).encode(), t)


def read_value(model: MeterModel, obj: o.EmopObject, t: float = T):  # type: ignore[no-untyped-def]
    reply = read(model, obj.object_id, t)
    assert reply.ack_nak == 0, obj
    return obj.decode(decode_default(reply.data).payload)


def write(model: MeterModel, obj: o.EmopObject, payload: bytes, t: float = T) -> Frame:
    return exchange(model, DefaultRecord(obj.object_id, True, payload).encode(), t)


def pattern(obj: o.EmopObject, salt: int) -> bytes:
    """A value for `obj` unlike its default: a flag flips, anything else gets varied bytes."""
    if obj.decode is v.decode_flag:
        return bytes((salt & 1,))
    return bytes((salt + 37 * i + 1) & 0xFF for i in range(obj.size or 1))


def test_catalogue_holds_every_single_phase_object_once() -> None:
    ids = [obj.object_id for obj in o.SINGLE_PHASE_OBJECTS]
    assert len(ids) == len(set(ids)) == 206
    assert {(n, m) for n, m in o.ACTIVE_BLOCK_RATES} == {
        (n, m) for n in range(1, 9) for m in range(1, 9)
    }
    assert sorted(obj.object_id for obj in o.ACTIVE_BLOCK_RATES.values()) == list(
        range(0xFFF901, 0xFFF941)
    )
    assert sorted(obj.object_id for obj in o.FUTURE_BLOCK_RATES.values()) == list(
        range(0xFFF801, 0xFFF841)
    )
    assert o.ACTIVE_BLOCK_RATES[8, 1].object_id == 0xFFF939
    assert o.FUTURE_BLOCK_RATES[8, 1].object_id == 0xFFF839
    assert [obj.object_id for obj in o.ACTIVE_ELEMENT_B_TOU_RATES.values()] == [
        0xFFF701, 0xFFF702, 0xFFF703, 0xFFF704,
    ]  # fmt: skip
    assert [obj.object_id for obj in o.FUTURE_ELEMENT_B_TOU_RATES.values()] == [
        0xFFF601, 0xFFF602, 0xFFF603, 0xFFF604,
    ]  # fmt: skip
    assert all(obj.size for obj in o.SINGLE_PHASE_OBJECTS)
    assert o.PREPAY_TOKEN.access == o.WRITE
    assert o.CLOCK.access == o.READ_WRITE
    assert o.ACTIVE_PRICE.access == o.READ


def test_every_readable_object_answers_with_a_value_of_its_size() -> None:
    model = twin_meter()
    for obj in READABLE:
        reply = read(model, obj.object_id)
        assert reply.ack_nak == 0, obj
        record = decode_default(reply.data)
        assert (record.object_id, record.write) == (obj.object_id, False)
        assert len(record.payload) == obj.size, obj
        obj.decode(record.payload)  # raises if the value does not decode


def test_unidentified_objects_answer_with_the_value_a_real_meter_gave() -> None:
    model = make_model(3)
    for object_id, value in o.UNIDENTIFIED_VALUES.items():
        assert decode_default(read(model, object_id).data).payload == value


@pytest.mark.parametrize("object_id", REFUSED_IDS, ids=lambda i: f"{i:06X}")
def test_three_phase_and_unknown_ids_are_nak_5_with_an_empty_payload(object_id: int) -> None:
    model = make_model(0)
    for request in (DefaultRecord(object_id), DefaultRecord(object_id, True, b"\x00\x00")):
        reply = exchange(model, request.encode(), T)
        assert reply.ack_nak == 5
        assert reply.data == request.encode()[:5] and reply.length == 0x11


def test_writes_to_every_read_only_object_are_nak_6_and_change_nothing() -> None:
    model = twin_meter()
    before = {obj.name: read(model, obj.object_id).data for obj in READABLE}
    for obj in READ_ONLY:
        reply = write(model, obj, bytes(obj.size or 1))
        assert reply.ack_nak == 6, obj
        assert reply.data == DefaultRecord(obj.object_id, True).encode()
    after = {obj.name: read(model, obj.object_id).data for obj in READABLE}
    changed = {name for name in before if before[name] != after[name]}
    assert not changed


def test_reading_the_write_only_token_object_is_nak_6() -> None:
    assert read(make_model(0), o.PREPAY_TOKEN.object_id).ack_nak == 6


def test_every_writable_object_reads_back_what_was_written() -> None:
    model = twin_meter()
    written = {}
    for salt, obj in enumerate(READ_WRITE):
        payload = pattern(obj, salt)
        reply = write(model, obj, payload)
        assert reply.ack_nak == 0 and reply.data == DefaultRecord(obj.object_id, True).encode()
        written[obj] = payload
    for obj, payload in written.items():
        assert decode_default(read(model, obj.object_id).data).payload == payload, obj


def test_writes_of_the_wrong_size_are_nak_3() -> None:
    model = make_model(0)
    for obj in (o.FUTURE_BLOCK_RATES[2, 3], o.BACKLIGHT, o.TIME_SWITCH_ELEMENT_B):
        assert write(model, obj, bytes((obj.size or 0) + 1)).ack_nak == 3


# ---------------------------------------------------------------- tariffs


def test_active_set_shows_its_prices_in_block_8_rate_1_and_tou_rate_1() -> None:
    model = make_model(4)
    truth = model.ground_truth(T).tariffs_active
    assert read_value(model, o.ACTIVE_BLOCK_8_RATE_1) == truth.unit_rate_element_a
    assert read_value(model, o.ACTIVE_PRICE) == truth.unit_rate_element_a
    assert read_value(model, o.ACTIVE_ELEMENT_B_TOU_RATE_1) == truth.unit_rate_element_b
    assert read_value(model, o.ACTIVE_ELEMENT_B_PRICE) == truth.unit_rate_element_b
    # The indices point at those prices; no thresholds are set.
    assert read_value(model, o.ACTIVE_BLOCK_RATE) == 7  # block 8
    assert read_value(model, o.ACTIVE_TOU_RATE) == 0  # rate 1
    assert read_value(model, o.ACTIVE_ELEMENT_B_TOU_RATE) == 0
    assert read_value(model, o.ACTIVE_THRESHOLD_MASK) == 0
    assert read_value(model, o.ACTIVE_THRESHOLD_VALUES) == (0,) * 7
    assert read_value(model, o.ACTIVE_GAS) == 0


FUTURE_WRITES: dict[o.EmopObject, object] = {
    o.FUTURE_STANDING_CHARGE: Decimal("0.61234"),
    o.FUTURE_BLOCK_8_RATE_1: Decimal("0.31111"),
    o.FUTURE_ELEMENT_B_TOU_RATE_1: Decimal("0.15555"),
    o.FUTURE_BLOCK_RATES[3, 2]: Decimal("0.12345"),
    o.FUTURE_ELEMENT_B_TOU_RATES[3]: Decimal("0.05432"),
    o.FUTURE_EMERGENCY_CREDIT: Decimal("12.00000"),
    o.FUTURE_ECREDIT_AVAILABILITY: Decimal("8.00000"),
    o.FUTURE_DEBT_RECOVERY_RATE: Decimal("0.20000"),
    o.FUTURE_THRESHOLD_MASK: 0x21,
    o.FUTURE_THRESHOLD_VALUES: (10, 20, 30, 40, 50, 60, 70),
    o.FUTURE_TOU_FLAG: 1,
    o.FUTURE_GAS: 7,
}


def test_activation_copies_the_whole_future_set_into_the_active_set() -> None:
    model = make_model(2)
    assert write(model, o.DST_FLAG, b"\x00").ack_nak == 0  # activation time in UTC
    for obj, value in FUTURE_WRITES.items():
        assert write(model, obj, obj.encode(value)).ack_nak == 0, obj
    drift = model.ground_truth(T).clock_time_diff_seconds
    activation = int(T) + drift + 600 - EMOP_EPOCH_UNIX  # ten minutes on the meter's clock
    active_of = {future: active for active, future in o.ACTIVATION_SOURCES.items()}
    before = {obj: read_value(model, active_of[obj]) for obj in FUTURE_WRITES}
    assert all(before[obj] != value for obj, value in FUTURE_WRITES.items())

    assert write(model, o.FUTURE_ACTIVATION, v.encode_u32(activation)).ack_nak == 0
    assert read_value(model, o.ACTIVE_PRICE, T + 300) == before[o.FUTURE_BLOCK_8_RATE_1]
    # Due but inside the half hour, then once the model has stepped past it.
    for t in (T + 900, T + 4 * STEP_SECONDS):
        for obj, value in FUTURE_WRITES.items():
            assert read_value(model, active_of[obj], t) == value, (obj, t)
        assert read_value(model, o.ACTIVE_PRICE, t) == Decimal("0.31111")
        assert read_value(model, o.ACTIVE_ELEMENT_B_PRICE, t) == Decimal("0.15555")
        assert read_value(model, o.ACTIVE_BLOCK_RATES[1, 1], t) == 0
    # The future set keeps what was written.
    assert read_value(model, o.FUTURE_BLOCK_RATES[3, 2], T + 4 * STEP_SECONDS) == Decimal("0.12345")


def test_a_later_future_write_does_not_change_the_active_set() -> None:
    model = make_model(2)
    write(model, o.DST_FLAG, b"\x00")
    write(model, o.FUTURE_BLOCK_RATES[5, 5], v.encode_money(Decimal("0.5")))
    write(model, o.FUTURE_ACTIVATION, v.encode_u32(int(T) - 86_400 - EMOP_EPOCH_UNIX))
    later = T + 2 * STEP_SECONDS
    assert read_value(model, o.ACTIVE_BLOCK_RATES[5, 5], later) == Decimal("0.5")
    write(model, o.FUTURE_BLOCK_RATES[5, 5], v.encode_money(Decimal("0.6")), later)
    assert read_value(model, o.ACTIVE_BLOCK_RATES[5, 5], later) == Decimal("0.5")


# ---------------------------------------------------------------- measurements and prepayment


def test_instantaneous_measurements_follow_the_last_half_hours_consumption() -> None:
    model = twin_meter()
    t = at_step(10, 60)  # 05:00 UTC: the night load runs on element B
    previous = model.ground_truth(t - STEP_SECONDS)
    truth = model.ground_truth(t)
    wh_a = truth.element_a.active_import_wh - previous.element_a.active_import_wh
    wh_b = truth.element_b.active_import_wh - previous.element_b.active_import_wh
    assert wh_a > 0 and wh_b > 0
    assert read_value(model, o.ELEMENT_A_ACTIVE_POWER, t) == 2 * wh_a
    assert read_value(model, o.ELEMENT_B_ACTIVE_POWER, t) == 2 * wh_b
    watts = read_value(model, o.ACTIVE_POWER, t)
    assert watts == 2 * (wh_a + wh_b)
    volts = read_value(model, o.VOLTAGE, t)
    amps = read_value(model, o.CURRENT, t)
    power_factor = read_value(model, o.POWER_FACTOR, t)
    assert Decimal("0.9") <= power_factor <= 1
    # P = V I pf, to the 0.1 A the current is given in
    assert abs(volts * amps * power_factor - watts) <= volts * Decimal("0.1")
    assert 0 < read_value(model, o.REACTIVE_POWER, t) < watts
    assert abs(read_value(model, o.FREQUENCY, t) - 50) <= Decimal("0.1")
    assert read_value(model, o.AVERAGE_FREQUENCY, t) == Decimal("50.0")
    assert 230 <= read_value(model, o.AVERAGE_VOLTAGE, t) <= 250
    assert read_value(model, o.TOTAL_ACTIVE_IMPORT, t) == (
        truth.element_a.active_import_wh + truth.element_b.active_import_wh
    )
    assert read_value(model, o.TOTAL_ACTIVE_EXPORT, t) == truth.element_a.active_export_wh


def test_a_top_up_counts_as_a_transaction_with_its_time_and_value() -> None:
    model = make_model(1)
    count = read_value(model, o.TRANSACTION_COUNT)
    token = "00750123456789012345"  # £7.50 by the simulator's token rule
    assert write(model, o.PREPAY_TOKEN, o.PREPAY_TOKEN.encode(token)).ack_nak == 0
    assert read_value(model, o.TRANSACTION_COUNT) == count + 1
    details = read_value(model, o.TRANSACTION_DETAILS)
    assert details.payment_value == Decimal("7.50")
    meter_clock = read_value(model, o.CLOCK)
    assert abs((meter_clock - details.payment_time).total_seconds()) <= 1
    assert details.payment_time > datetime(2024, 1, 1, tzinfo=UTC)
