"""Property-based round trips: every frame, record and value codec encodes and decodes back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagster_project.emop import objects as o
from dagster_project.emop import values as v
from dagster_project.emop.crc import crc16_ccitt_false
from dagster_project.emop.data import (
    DefaultRecord,
    EventLogEntry,
    EventLogRequest,
    EventLogResponse,
    ProfileLog1Record,
    ProfileLog2Record,
    ProfileLogRequest,
    ProfileLogResponse,
    ProfileRecord,
    decode_default,
    decode_event_log_request,
    decode_event_log_response,
    decode_profile_log_request,
    decode_profile_log_response,
    encode_profile_block,
    records_per_block,
)
from dagster_project.emop.errors import DecodeError, EncodeError, FrameError
from dagster_project.emop.frame import Frame, decode_frame
from dagster_project.emop.tariffs import Tariff, activation_from_emop_seconds, future_tariff_writes

# No deadline: a loaded CI machine must not turn a slow example into a failure.
SETTINGS = settings(deadline=None)

# Spec §2: L is one byte and counts itself, both 4-byte addresses, control and the 2-byte CRC.
MAX_L = 0xFF
FIXED_L = 12
MAX_DATA = MAX_L - FIXED_L
MIN_L = 17  # §2: the Java decoder rejects anything shorter than a default frame with no payload

U32_MAX = 2**32 - 1
MAX_MONEY = Decimal(U32_MAX) / 100_000  # §4: u32 count of 1/100 000 GBP
MIN_SIGNED_MONEY = Decimal(-(2**31)) / 100_000
MAX_SIGNED_MONEY = Decimal(2**31 - 1) / 100_000
EMOP_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

addresses = st.integers(0, U32_MAX)
u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, U32_MAX)
money = st.decimals(min_value=0, max_value=MAX_MONEY, places=5)
signed_money = st.decimals(min_value=MIN_SIGNED_MONEY, max_value=MAX_SIGNED_MONEY, places=5)
whole_seconds = st.integers(0, U32_MAX).map(lambda s: EMOP_EPOCH + timedelta(seconds=s))
#: A record timestamp: any EMOP second but 0, which marks an empty (padding) slot.
record_times = st.integers(1, U32_MAX).map(lambda s: EMOP_EPOCH + timedelta(seconds=s))
clock_times = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2255, 12, 31, 23, 59, 59),
    timezones=st.just(UTC),
).map(lambda moment: moment.replace(microsecond=0))
printable_ascii = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
voltages = st.integers(0, 0xFFFF).map(lambda tenths: Decimal(tenths).scaleb(-1))
signal_qualities = st.builds(v.SignalQuality, csq=st.integers(0, 31), operator=st.integers(0, 7))
element_registers = st.builds(v.ElementRegisters, u32, u32, u32, u32)


def stripped_text(max_size: int) -> st.SearchStrategy[str]:
    """ASCII text as a meter pads it: no leading or trailing padding of its own."""
    return st.text(printable_ascii, max_size=max_size).filter(lambda s: s == s.strip(" "))


# ---------------------------------------------------------------- frames


frames = st.builds(
    Frame,
    destination=addresses,
    source=addresses,
    sequence=st.integers(0, 7),
    data=st.binary(min_size=MIN_L - FIXED_L, max_size=MAX_DATA),
    ack_nak=st.integers(0, 31),
)


@SETTINGS
@given(frames)
def test_frame_decodes_to_the_frame_that_was_encoded(frame: Frame) -> None:
    assert decode_frame(frame.encode()) == frame


@SETTINGS
@given(frames)
def test_encoded_frame_follows_the_spec_layout(frame: Frame) -> None:
    raw = frame.encode()
    assert raw[0] == 0x7E
    assert raw[1] == FIXED_L + len(frame.data) == len(raw) - 1
    assert int.from_bytes(raw[2:6], "big") == frame.destination
    assert int.from_bytes(raw[6:10], "big") == frame.source
    assert raw[10] & 0x07 == frame.sequence
    assert raw[10] >> 3 == frame.ack_nak
    assert raw[11:-2] == frame.data
    assert int.from_bytes(raw[-2:], "big") == crc16_ccitt_false(raw[1:-2])


@SETTINGS
@given(
    st.builds(
        Frame,
        destination=addresses,
        source=addresses,
        sequence=st.integers(0, 7),
        data=st.binary(max_size=MAX_DATA),
        ack_nak=st.integers(0, 31),
    )
)
def test_crc_residue_over_a_whole_encoded_frame_is_zero(frame: Frame) -> None:
    assert crc16_ccitt_false(frame.encode()[1:]) == 0


@SETTINGS
@given(addresses, addresses, st.integers(0, 7), st.binary(max_size=MIN_L - FIXED_L - 1))
def test_frame_shorter_than_l_17_is_rejected(
    destination: int, source: int, sequence: int, data: bytes
) -> None:
    raw = Frame(destination, source, sequence, data).encode()
    with pytest.raises(FrameError):
        decode_frame(raw)


@SETTINGS
@given(st.binary(min_size=MAX_DATA + 1, max_size=MAX_DATA + 20))
def test_frame_data_beyond_the_one_byte_length_does_not_fit(data: bytes) -> None:
    with pytest.raises(ValueError):
        Frame(0, 0, 0, data)


@SETTINGS
@given(st.integers(0, 0xFFFFFF), st.booleans(), st.binary(max_size=MAX_DATA - 5))
def test_default_record_round_trips(object_id: int, write: bool, payload: bytes) -> None:
    record = DefaultRecord(object_id=object_id, write=write, payload=payload)
    data = record.encode()
    assert data[:1] == b"\x01"
    assert int.from_bytes(data[1:4], "big") == object_id
    assert data[4] == (1 if write else 0)
    assert decode_default(data) == record


# ---------------------------------------------------------------- integers and flags


@pytest.mark.parametrize(
    ("encode", "decode", "size", "signed"),
    [
        (v.encode_u8, v.decode_u8, 1, False),
        (v.encode_u16, v.decode_u16, 2, False),
        (v.encode_u32, v.decode_u32, 4, False),
        (v.encode_s32, v.decode_s32, 4, True),
    ],
    ids=["u8", "u16le", "u32le", "s32le"],
)
@SETTINGS
@given(data=st.data())
def test_integer_codec_round_trips_little_endian(
    encode: Any, decode: Any, size: int, signed: bool, data: st.DataObject
) -> None:
    bits = size * 8
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    value = data.draw(st.integers(low, high))
    raw = encode(value)
    assert raw == value.to_bytes(size, "little", signed=signed)
    assert decode(raw) == value
    outside = data.draw(st.integers(high + 1, high + 2**40) | st.integers(low - 2**40, low - 1))
    with pytest.raises(EncodeError):
        encode(outside)


@pytest.mark.parametrize(("flag", "byte"), [(False, 0x00), (True, 0x01)])
def test_flag_round_trips_as_0_or_1(flag: bool, byte: int) -> None:
    assert v.encode_flag(flag) == bytes([byte])
    assert v.decode_flag(bytes([byte])) is flag


def test_every_flag_byte_other_than_0_or_1_is_a_decode_error() -> None:
    for byte in range(2, 0x100):
        with pytest.raises(DecodeError):
            v.decode_flag(bytes([byte]))


# ---------------------------------------------------------------- money


@SETTINGS
@given(money)
def test_money_round_trips_with_five_decimal_places(amount: Decimal) -> None:
    raw = v.encode_money(amount)
    assert int.from_bytes(raw, "little") * Decimal("0.00001") == amount
    assert v.decode_money(raw) == amount


@SETTINGS
@given(signed_money)
def test_signed_money_round_trips_with_five_decimal_places(amount: Decimal) -> None:
    raw = v.encode_signed_money(amount)
    assert int.from_bytes(raw, "little", signed=True) * Decimal("0.00001") == amount
    assert v.decode_signed_money(raw) == amount


@SETTINGS
@given(st.binary(min_size=4, max_size=4))
def test_any_money_payload_reencodes_to_itself(raw: bytes) -> None:
    assert v.encode_money(v.decode_money(raw)) == raw
    assert v.encode_signed_money(v.decode_signed_money(raw)) == raw
    assert v.decode_money(raw).as_tuple().exponent == -5


@SETTINGS
@given(st.decimals(min_value=0, max_value=1000, places=8))
def test_money_is_refused_exactly_when_it_has_more_than_five_decimal_places(
    amount: Decimal,
) -> None:
    if amount == amount.quantize(Decimal("0.00001")):
        assert v.decode_money(v.encode_money(amount)) == amount
    else:
        with pytest.raises(EncodeError):
            v.encode_money(amount)


# ---------------------------------------------------------------- time


@SETTINGS
@given(whole_seconds)
def test_emop_timestamp_round_trips(moment: datetime) -> None:
    raw = v.encode_emop_time(moment)
    assert int.from_bytes(raw, "little") == (moment - EMOP_EPOCH) // timedelta(seconds=1)
    assert v.decode_emop_time(raw) == moment


@SETTINGS
@given(st.binary(min_size=4, max_size=4))
def test_any_emop_timestamp_payload_reencodes_to_itself(raw: bytes) -> None:
    assert v.encode_emop_time(v.decode_emop_time(raw)) == raw


@SETTINGS
@given(clock_times)
def test_time_record_round_trips_with_sunday_as_day_0(moment: datetime) -> None:
    raw = v.encode_time_record(moment)
    assert raw[:6] == bytes(
        (moment.year - 2000, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    )
    assert raw[6] == moment.isoweekday() % 7  # ISO Sunday is 7: EMOP 0 = Sunday ... 6 = Saturday
    assert v.decode_time_record(raw) == moment


@SETTINGS
@given(clock_times, st.integers(-14 * 60, 14 * 60))
def test_time_record_of_an_offset_time_is_the_same_instant_in_utc(
    moment: datetime, offset_minutes: int
) -> None:
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    decoded = v.decode_time_record(v.encode_time_record(local))
    assert decoded == moment
    assert decoded.utcoffset() == timedelta(0)


# ---------------------------------------------------------------- identity


@SETTINGS
@given(stripped_text(16))
def test_serial_round_trips_space_padded_to_16(serial: str) -> None:
    raw = o.SERIAL.encode(serial)
    assert len(raw) == 16
    assert raw == serial.encode("ascii") + b" " * (16 - len(serial))
    assert o.SERIAL.decode(raw) == serial


@SETTINGS
@given(stripped_text(16), st.sampled_from([b" ", b"\x00"]), st.integers(0, 8))
def test_ascii_padding_of_spaces_or_nuls_is_stripped(text: str, pad: bytes, count: int) -> None:
    assert v.decode_ascii(text.encode("ascii") + pad * count) == text


@SETTINGS
@given(st.text("0123456789", min_size=20, max_size=20))
def test_token_round_trips_as_20_ascii_digits(token: str) -> None:
    raw = o.PREPAY_TOKEN.encode(token)
    assert raw == token.encode("ascii")
    assert o.PREPAY_TOKEN.decode(raw) == token


@pytest.mark.parametrize(
    ("model", "payload"),
    # §5.1 codes, space padded to the 4 bytes observed; three-phase meters answer empty (§11).
    [("C1.w", b"6Cw "), ("B1.w", b"6Bw "), ("EMA1.w", b"3Aw "), ("THREE_PHASE", b"")],
)
def test_hardware_model_round_trips_through_its_code(model: str, payload: bytes) -> None:
    assert v.encode_hardware(model) == payload
    assert v.decode_hardware(payload) == model


@SETTINGS
@given(st.text(printable_ascii, min_size=4, max_size=4))
def test_firmware_round_trips_with_underscores_after_chars_1_and_3(text: str) -> None:
    raw = text.encode("ascii")
    display = v.decode_firmware(raw)
    assert display == f"{text[0]}_{text[1:3]}_{text[3]}"
    assert v.encode_firmware(display) == raw


# ---------------------------------------------------------------- measurements and records


@SETTINGS
@given(signal_qualities)
def test_signal_quality_round_trips_operator_in_bits_7_to_5(quality: v.SignalQuality) -> None:
    raw = v.encode_signal_quality(quality)
    assert raw == bytes([quality.operator * 32 + quality.csq])
    assert v.decode_signal_quality(raw) == quality


def test_every_signal_quality_byte_reencodes_to_itself() -> None:
    for byte in range(0x100):
        assert v.encode_signal_quality(v.decode_signal_quality(bytes([byte]))) == bytes([byte])


@SETTINGS
@given(voltages)
def test_voltage_round_trips_in_tenths_of_a_volt(volts: Decimal) -> None:
    raw = v.encode_voltage(volts)
    assert int.from_bytes(raw, "little") == volts * 10
    assert v.decode_voltage(raw) == volts


@SETTINGS
@given(st.binary(min_size=2, max_size=2))
def test_any_voltage_payload_reencodes_to_itself(raw: bytes) -> None:
    assert v.encode_voltage(v.decode_voltage(raw)) == raw


@SETTINGS
@given(element_registers)
def test_element_registers_round_trip_as_four_u32le(registers: v.ElementRegisters) -> None:
    raw = v.encode_registers(registers)
    assert raw == b"".join(
        value.to_bytes(4, "little")
        for value in (
            registers.active_import_wh,
            registers.active_export_wh,
            registers.reactive_import_varh,
            registers.reactive_export_varh,
        )
    )
    assert v.decode_registers(raw) == registers


# ---------------------------------------------------------------- measurement and record codecs


@SETTINGS
@given(st.binary(min_size=2, max_size=2))
def test_tenths_and_hundredths_are_u16le_steps(raw: bytes) -> None:
    steps = int.from_bytes(raw, "little")
    assert v.decode_tenths(raw) == Decimal(steps) / 10
    assert v.decode_hundredths(raw) == Decimal(steps) / 100
    assert v.encode_tenths(v.decode_tenths(raw)) == raw
    assert v.encode_hundredths(v.decode_hundredths(raw)) == raw


def test_scaled_values_off_the_step_or_range_are_refused() -> None:
    with pytest.raises(EncodeError, match=r"whole number of 0\.1"):
        v.encode_tenths(Decimal("49.95"))
    with pytest.raises(EncodeError, match="does not fit u16"):
        v.encode_hundredths(Decimal("655.36"))
    with pytest.raises(EncodeError, match="not a number"):
        v.encode_tenths(Decimal("NaN"))


@SETTINGS
@given(st.binary(min_size=14, max_size=14))
def test_threshold_values_are_seven_u16le(raw: bytes) -> None:
    values = v.decode_thresholds(raw)
    assert values == tuple(int.from_bytes(raw[i : i + 2], "little") for i in range(0, 14, 2))
    assert v.encode_thresholds(values) == raw


def test_threshold_values_need_seven_values_and_fourteen_bytes() -> None:
    with pytest.raises(EncodeError, match="7 threshold values"):
        v.encode_thresholds((0,) * 6)
    with pytest.raises(DecodeError, match="needs 14 bytes"):
        v.decode_thresholds(bytes(13))


def test_transaction_details_are_eight_bytes_then_time_and_signed_value() -> None:
    raw = (
        bytes(range(8))
        + (784598400).to_bytes(4, "little")
        + (-250_000).to_bytes(4, "little", signed=True)
    )
    details = v.decode_transaction_details(raw)
    assert details == v.TransactionDetails(
        bytes(range(8)), datetime(2024, 11, 11, tzinfo=UTC), Decimal("-2.50000")
    )
    assert v.encode_transaction_details(details) == raw


# ---------------------------------------------------------------- every catalogue object

transaction_details = st.builds(
    v.TransactionDetails,
    st.binary(min_size=8, max_size=8),
    whole_seconds,
    signed_money,
)
_BY_DECODER: dict[Any, st.SearchStrategy[Any]] = {
    v.decode_money: money,
    v.decode_signed_money: signed_money,
    v.decode_u8: u8,
    v.decode_u16: u16,
    v.decode_u32: u32,
    v.decode_flag: st.booleans(),
    v.decode_time_record: clock_times,
    v.decode_signal_quality: signal_qualities,
    v.decode_voltage: voltages,
    v.decode_tenths: voltages,
    v.decode_hundredths: u16.map(lambda steps: Decimal(steps).scaleb(-2)),
    v.decode_thresholds: st.tuples(*[u16] * v.THRESHOLD_COUNT),
    v.decode_transaction_details: transaction_details,
    v.decode_registers: element_registers,
    v.decode_hardware: st.sampled_from(["C1.w", "B1.w", "EMA1.w", "THREE_PHASE"]),
    v.decode_firmware: st.text(printable_ascii, min_size=4, max_size=4).map(
        lambda t: f"{t[0]}_{t[1:3]}_{t[3]}"
    ),
}
_BY_NAME: dict[str, st.SearchStrategy[Any]] = {
    "serial": stripped_text(16),
    "three_phase_serial": stripped_text(16),
    "prepay_token_send": st.text("0123456789", min_size=20, max_size=20),
}


def value_strategy(obj: o.EmopObject) -> st.SearchStrategy[Any]:
    if obj.name in _BY_NAME:
        return _BY_NAME[obj.name]
    if obj.encode is o.encode_raw:  # bytes of unknown layout
        return st.binary(min_size=obj.size or 0, max_size=obj.size or 0)
    return _BY_DECODER[obj.decode]


@pytest.mark.parametrize("obj", o.ALL_OBJECTS, ids=lambda obj: obj.name)
@settings(deadline=None, max_examples=25)
@given(data=st.data())
def test_every_catalogue_object_round_trips_its_values(
    obj: o.EmopObject, data: st.DataObject
) -> None:
    value = data.draw(value_strategy(obj))
    payload = obj.encode(value)
    assert obj.decode(payload) == value
    if value != v.THREE_PHASE:  # the one value a single-phase object's size does not hold
        assert len(payload) == obj.size
    # And through a default-format frame, as a write request would carry it.
    frame = Frame(0, 0x0021AE42, 5, DefaultRecord(obj.object_id, True, payload).encode())
    decoded = decode_default(decode_frame(frame.encode()).data)
    assert obj.decode(decoded.payload) == value


# ---------------------------------------------------------------- tariffs

tariffs = st.builds(
    Tariff,
    standing_charge=money,
    unit_rate_element_a=money,
    unit_rate_element_b=money,
    prepayment_ecredit_availability=money,
    prepayment_debt_recovery_rate=money,
    prepayment_emergency_credit=money,
    activation_datetime=st.none()
    | st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2136, 2, 7)).map(
        lambda moment: moment.replace(microsecond=0)
    ),
)


@SETTINGS
@given(tariffs)
def test_tariff_round_trips_through_json_text(tariff: Tariff) -> None:
    assert Tariff.from_json(json.loads(json.dumps(tariff.to_json()))) == tariff


rates = st.decimals(min_value=0, max_value=1, places=5)


@SETTINGS
@given(
    st.builds(
        Tariff,
        standing_charge=rates,
        unit_rate_element_a=rates,
        unit_rate_element_b=rates,
        prepayment_ecredit_availability=money,
        prepayment_debt_recovery_rate=money,
        prepayment_emergency_credit=money,
        activation_datetime=st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2136, 2, 7)
        ).map(lambda moment: moment.replace(microsecond=0)),
    )
)
def test_future_tariff_writes_decode_back_to_the_tariff(tariff: Tariff) -> None:
    written = {obj.name: obj.decode(payload) for obj, payload in future_tariff_writes(tariff)}
    assert written["tariff_future_standing_charge"] == tariff.standing_charge
    assert written["tariff_future_block_8_rate_1"] == tariff.unit_rate_element_a
    assert written["tariff_future_element_b_tou_rate_1"] == tariff.unit_rate_element_b
    assert written["tariff_future_prepayment_emergency_credit"] == (
        tariff.prepayment_emergency_credit
    )
    assert written["tariff_future_prepayment_ecredit_availability"] == (
        tariff.prepayment_ecredit_availability
    )
    assert written["tariff_future_prepayment_debt_recovery_rate"] == (
        tariff.prepayment_debt_recovery_rate
    )
    assert (
        activation_from_emop_seconds(written["tariff_future_activation_datetime"])
        == tariff.activation_datetime
    )


# ---------------------------------------------------------------- profile logs

registers = st.none() | st.integers(0, U32_MAX - 1)  # None: a register the meter did not record

log_1_records = st.builds(ProfileLog1Record, record_times, u16, registers, registers)
log_2_single_records = st.builds(
    ProfileLog2Record, record_times, u16, registers, registers, registers, registers
)
log_2_twin_records = st.builds(
    ProfileLog2Record,
    record_times,
    u16,
    registers,
    registers,
    registers,
    registers,
    registers,
    registers,
    registers,
)

# §9.3: an 80-byte block holds 5 log-1 records (14 bytes), 3 single-element log-2 records
# (22 bytes) or 2 twin-element log-2 records (34 bytes).
PROFILE_LAYOUTS = [
    pytest.param(1, False, 5, log_1_records, id="log-1"),
    pytest.param(2, False, 3, log_2_single_records, id="log-2-single-element"),
    pytest.param(2, True, 2, log_2_twin_records, id="log-2-twin-element"),
]


@pytest.mark.parametrize(("log", "twin", "capacity", "records"), PROFILE_LAYOUTS)
@SETTINGS
@given(data=st.data())
def test_profile_log_block_round_trips_through_a_response_frame(
    log: int,
    twin: bool,
    capacity: int,
    records: st.SearchStrategy[ProfileRecord],
    data: st.DataObject,
) -> None:
    assert records_per_block(log, twin) == capacity
    chosen = data.draw(st.lists(records, max_size=capacity))
    echo = data.draw(st.binary(min_size=4, max_size=4))
    block = encode_profile_block(chosen, log=log, twin_element=twin)
    assert len(block) == 80

    response_data = ProfileLogResponse(log=log, echo=echo, block=block).encode()
    assert response_data[0] == (0x03 if log == 1 else 0x04)
    raw = Frame(0x0021AE42, 0x000018B0, 5, response_data).encode()
    assert raw[1] == 0x61  # §9.2: L = 97

    response = decode_profile_log_response(decode_frame(raw).data)
    assert response.log == log
    assert response.echo == echo
    assert response.records(twin_element=twin) == chosen


@SETTINGS
@given(log_1_records)
def test_missing_profile_register_travels_as_all_ones(record: ProfileLog1Record) -> None:
    block = encode_profile_block([record], log=1, twin_element=False)
    import_a = block[6:10]
    assert (import_a == b"\xff" * 4) is (record.import_a_wh is None)


@SETTINGS
@given(st.sampled_from([1, 2]), whole_seconds)
def test_profile_log_request_round_trips_with_big_endian_time(log: int, start: datetime) -> None:
    request = ProfileLogRequest(log=log, start=start)
    data = request.encode()
    assert len(data) == 5
    assert int.from_bytes(data[1:5], "big") == (start - EMOP_EPOCH) // timedelta(seconds=1)
    assert decode_profile_log_request(decode_frame(Frame(0, 1, 5, data).encode()).data) == request


# ---------------------------------------------------------------- event log

event_entries = st.builds(EventLogEntry, record_times, st.integers(1, 0xFF), u8)


@SETTINGS
@given(st.integers(0, 9))
def test_event_log_request_round_trips(page: int) -> None:
    data = EventLogRequest(page).encode()
    assert data == bytes([0x05, 0xFF, 0xFF, 0x49, page])
    assert decode_event_log_request(data) == EventLogRequest(page)


@SETTINGS
@given(st.integers(0, 9), st.lists(event_entries, max_size=10))
def test_event_log_page_round_trips_through_a_response_frame(
    page: int, entries: list[EventLogEntry]
) -> None:
    response = EventLogResponse(page=page, entries=tuple(entries))
    raw = Frame(0x0021AE42, 0x000018B0, 5, response.encode()).encode()
    assert raw[1] == 0x4D  # §10.2: L = 77
    assert decode_event_log_response(decode_frame(raw).data) == response
