"""Every example frame and value in the EMOP spec decodes to its documented values and back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

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
    ProfileStatus,
    RecordFormat,
    decode_default,
    decode_event_log_request,
    decode_event_log_response,
    decode_profile_log_request,
    decode_profile_log_response,
    encode_profile_block,
)
from dagster_project.emop.errors import AckNak
from dagster_project.emop.frame import Frame, decode_frame
from dagster_project.emop.tariffs import (
    Tariff,
    activation_from_emop_seconds,
    activation_to_emop_seconds,
    future_tariff_writes,
)
from tests.support.spec_frames import (
    ALL_SPEC_FRAMES,
    DEFAULT_EXAMPLES,
    EVENT_LOG_FRAME,
    EVENT_LOG_REQUESTS,
    HEAD_END,
    METER,
    NO_VALUE,
    PROFILE_LOG_1_FRAME,
    PROFILE_LOG_2_FRAME,
    PROFILE_LOG_REQUESTS,
    DefaultExample,
    wire,
)

# ---------------------------------------------------------------- CRC (§2.3)


def test_crc_check_value_of_123456789_is_0x29b1() -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1


# ---------------------------------------------------------------- default format (§8)
# The spec's frames and what it says they hold: tests/support/spec_frames.py.


@pytest.mark.parametrize("example", DEFAULT_EXAMPLES, ids=lambda example: example.id)
def test_default_format_frame_decodes_to_documented_header(example: DefaultExample) -> None:
    raw = wire(example.frame)
    frame = decode_frame(raw)

    assert frame.destination == example.destination
    assert frame.source == example.source
    assert frame.sequence == example.sequence
    assert frame.ack_nak == example.ack_nak
    assert raw[1] == 12 + len(frame.data) == len(raw) - 1  # L counts itself and the CRC
    assert frame.data[0] == RecordFormat.DEFAULT == 0x01

    record = decode_default(frame.data)
    assert record.object_id == example.object_id
    assert record.write is example.write
    if example.value is NO_VALUE:
        assert record.payload == b""


@pytest.mark.parametrize("example", DEFAULT_EXAMPLES, ids=lambda example: example.id)
def test_default_format_object_id_is_the_documented_catalogue_entry(
    example: DefaultExample,
) -> None:
    if example.object_name is None:
        assert example.object_id not in o.BY_ID  # the spec's example of an unknown object
        return
    obj = o.BY_NAME[example.object_name]
    assert obj.object_id == example.object_id
    assert o.BY_ID[example.object_id] is obj
    assert obj.id_bytes == example.object_id.to_bytes(3, "big")


VALUE_EXAMPLES = [example for example in DEFAULT_EXAMPLES if example.value is not NO_VALUE]


@pytest.mark.parametrize("example", VALUE_EXAMPLES, ids=lambda example: example.id)
def test_default_format_payload_decodes_to_documented_value(example: DefaultExample) -> None:
    assert example.object_name is not None
    record = decode_default(decode_frame(wire(example.frame)).data)
    assert o.BY_NAME[example.object_name].decode(record.payload) == example.value


@pytest.mark.parametrize("example", DEFAULT_EXAMPLES, ids=lambda example: example.id)
def test_default_format_frame_reencodes_from_decoded_values(example: DefaultExample) -> None:
    raw = wire(example.frame)
    if example.value is NO_VALUE:
        payload = b""
    elif example.lossless:
        assert example.object_name is not None
        payload = o.BY_NAME[example.object_name].encode(example.value)
    else:
        payload = decode_default(decode_frame(raw).data).payload
    data = DefaultRecord(object_id=example.object_id, write=example.write, payload=payload)
    rebuilt = Frame(
        destination=example.destination,
        source=example.source,
        sequence=example.sequence,
        data=data.encode(),
        ack_nak=example.ack_nak,
    )
    assert rebuilt.encode() == raw


def test_nak_control_bytes_0x29_and_0x2d_carry_code_5_object_not_recognised() -> None:
    captured = decode_frame(wire(ALL_SPEC_FRAMES["8.1-nak-code-5-seq-1"]))
    constructed = decode_frame(wire(ALL_SPEC_FRAMES["8.4-nak-code-5-seq-5"]))
    assert captured.control == 0x29
    assert constructed.control == 0x2D
    assert captured.ack_nak == constructed.ack_nak == AckNak.OBJECT_NOT_RECOGNISED == 5
    assert (captured.sequence, constructed.sequence) == (1, 5)


def test_set_clock_write_carries_tuesday_as_day_of_week_2() -> None:
    payload = o.CLOCK.encode(datetime(2024, 3, 5, 13, 14, 15, tzinfo=UTC))
    assert payload == bytes([24, 3, 5, 13, 14, 15, 2])


def test_captured_time_record_is_a_sunday_with_day_of_week_0() -> None:
    assert o.CLOCK.encode(datetime(2023, 8, 6, 21, 0, 1, tzinfo=UTC))[6] == 0


def test_future_activation_796780800_is_2025_04_01_midnight() -> None:
    assert activation_from_emop_seconds(796780800) == datetime(2025, 4, 1)
    assert activation_to_emop_seconds(datetime(2025, 4, 1)) == 796780800
    assert v.decode_emop_time((796780800).to_bytes(4, "little")) == datetime(2025, 4, 1, tzinfo=UTC)


def test_future_tariff_writes_reproduce_the_spec_write_frames_in_spec_order() -> None:
    tariff = Tariff(
        standing_charge=Decimal("0.51082"),
        unit_rate_element_a=Decimal("0.23456"),
        unit_rate_element_b=Decimal("0.23456"),
        prepayment_ecredit_availability=Decimal("10.00"),
        prepayment_debt_recovery_rate=Decimal("0.30"),
        prepayment_emergency_credit=Decimal("15.00"),
        activation_datetime=datetime(2025, 4, 1),
    )
    writes = future_tariff_writes(tariff)

    # §6.3: the eleven writes, activation deliberately last.
    assert [obj.object_id for obj, _ in writes] == [
        0xFFFF21, 0xFFFF1F, 0xFFFF4F, 0xFFF839, 0xFFF601,
        0xFFC808, 0xFFC809, 0xFFC80A, 0xFFC965, 0xFFFF23, 0xFFFF24,
    ]  # fmt: skip
    frames = {
        obj.object_id: Frame(
            destination=0x00000000,
            source=HEAD_END,
            sequence=5,
            data=DefaultRecord(obj.object_id, write=True, payload=payload).encode(),
        ).encode()
        for obj, payload in writes
    }
    assert frames[0xFFFF23] == wire(ALL_SPEC_FRAMES["8.5-write-future-standing-charge-0.51082"])
    assert frames[0xFFFF24] == wire(ALL_SPEC_FRAMES["8.5-write-future-activation-2025-04-01"])
    assert frames[0xFFFF21] == wire(ALL_SPEC_FRAMES["8.5-write-future-threshold-mask-0"])
    assert frames[0xFFFF1F] == wire(ALL_SPEC_FRAMES["8.5-write-future-threshold-values-zero"])
    payloads = {obj.object_id: payload for obj, payload in writes}
    assert payloads[0xFFF839] == payloads[0xFFF601] == wire("A0 5B 00 00")  # £0.23456, §4
    assert payloads[0xFFC808] == wire("60 E3 16 00")  # £15.00, §4
    assert payloads[0xFFC809] == wire("40 42 0F 00")  # £10.00, §8.4
    assert payloads[0xFFC80A] == (30_000).to_bytes(4, "little")  # £0.30 as §4 defines money
    assert payloads[0xFFFF4F] == wire("00")
    assert payloads[0xFFC965] == wire("00 00 00 00")


# ---------------------------------------------------------------- value encodings (§4, §5, §8.4)


@dataclass(frozen=True)
class ValueExample:
    id: str
    decode: Any
    encode: Any  # None when the spec's bytes are not the encoder's canonical form
    payload: str
    value: Any


VALUE_VECTORS = [
    ValueExample("money-0.23456", v.decode_money, v.encode_money, "A05B0000", Decimal("0.23456")),
    ValueExample("money-15.00", v.decode_money, v.encode_money, "60E31600", Decimal("15.00")),
    ValueExample("money-0.17782", v.decode_money, v.encode_money, "76450000", Decimal("0.17782")),
    ValueExample("money-10.00", v.decode_money, v.encode_money, "40420F00", Decimal("10.00")),
    ValueExample("money-0.25", v.decode_money, v.encode_money, "A8610000", Decimal("0.25")),
    ValueExample(
        "balance-3.00", v.decode_signed_money, v.encode_signed_money, "E0930400", Decimal("3")
    ),
    ValueExample(
        "balance-2.22", v.decode_signed_money, v.encode_signed_money, "30630300", Decimal("2.22")
    ),
    ValueExample(
        "balance-minus-333.264",
        v.decode_signed_money,
        v.encode_signed_money,
        "C07A03FE",
        Decimal("-333.264"),
    ),
    ValueExample(
        "emop-time-784598400-2024-11-11",
        v.decode_emop_time,
        v.encode_emop_time,
        (784598400).to_bytes(4, "little").hex(),
        datetime(2024, 11, 11, tzinfo=UTC),
    ),
    ValueExample(
        "activation-local-midnight-1-july-as-utc",
        v.decode_emop_time,
        v.encode_emop_time,
        "00AE142E",
        datetime(2024, 7, 1, tzinfo=UTC),
    ),
    ValueExample(
        "time-record-2023-08-06-sunday",
        v.decode_time_record,
        v.encode_time_record,
        "17080615000100",
        datetime(2023, 8, 6, 21, 0, 1, tzinfo=UTC),
    ),
    ValueExample(
        "csq-0x30-operator-1-csq-16",
        v.decode_signal_quality,
        v.encode_signal_quality,
        "30",
        v.SignalQuality(csq=16, operator=1),
    ),
    ValueExample(
        "csq-0x4c-operator-2-csq-12",
        v.decode_signal_quality,
        v.encode_signal_quality,
        "4C",
        v.SignalQuality(csq=12, operator=2),
    ),
    ValueExample(
        "csq-0x29-operator-1-csq-9",
        v.decode_signal_quality,
        v.encode_signal_quality,
        "29",
        v.SignalQuality(csq=9, operator=1),
    ),
    ValueExample(
        "voltage-5209-238.6", v.decode_voltage, v.encode_voltage, "5209", Decimal("238.6")
    ),
    ValueExample(
        "voltage-4c09-238.0", v.decode_voltage, v.encode_voltage, "4C09", Decimal("238.0")
    ),
    ValueExample(
        "voltage-5d09-239.7", v.decode_voltage, v.encode_voltage, "5D09", Decimal("239.7")
    ),
    ValueExample(
        "serial-EML2137580761",
        o.SERIAL.decode,
        o.SERIAL.encode,
        "454D4C32313337353830373631202020",
        "EML2137580761",
    ),
    ValueExample("firmware-3032", v.decode_firmware, v.encode_firmware, "33303332", "3_03_2"),
    ValueExample("firmware-3020", v.decode_firmware, v.encode_firmware, "33303230", "3_02_0"),
    ValueExample("hardware-6Cw", v.decode_hardware, v.encode_hardware, "36437720", "C1.w"),
    ValueExample("hardware-3Aw", v.decode_hardware, v.encode_hardware, "33417720", "EMA1.w"),
    ValueExample("hardware-6C-nul-padded", v.decode_hardware, None, "36430000", "C1.w"),
    ValueExample("hardware-1", v.decode_hardware, None, "31000000", "SINGLE_PHASE_UNKNOWN"),
    ValueExample("hardware-empty-is-three-phase", v.decode_hardware, None, "", "THREE_PHASE"),
    ValueExample("flag-1-enabled", v.decode_flag, v.encode_flag, "01", True),
    ValueExample("flag-0-disabled", v.decode_flag, v.encode_flag, "00", False),
]


@pytest.mark.parametrize("example", VALUE_VECTORS, ids=lambda example: example.id)
def test_spec_value_encoding_decodes_to_documented_value(example: ValueExample) -> None:
    assert example.decode(bytes.fromhex(example.payload)) == example.value


@pytest.mark.parametrize(
    "example",
    [example for example in VALUE_VECTORS if example.encode is not None],
    ids=lambda example: example.id,
)
def test_spec_value_encodes_to_documented_bytes(example: ValueExample) -> None:
    assert example.encode(example.value) == bytes.fromhex(example.payload)


# ---------------------------------------------------------------- profile logs (§9)

APRIL_24 = datetime(2024, 4, 24, tzinfo=UTC)


@pytest.mark.parametrize(
    ("log", "frame"),
    [
        (1, PROFILE_LOG_REQUESTS["9.1-profile-log-1-request"]),
        (2, PROFILE_LOG_REQUESTS["9.1-profile-log-2-request"]),
    ],
    ids=list(PROFILE_LOG_REQUESTS),
)
def test_profile_log_request_decodes_to_big_endian_start_and_reencodes(
    log: int, frame: str
) -> None:
    raw = wire(frame)
    decoded = decode_frame(raw)
    assert (decoded.destination, decoded.source, decoded.sequence) == (0, HEAD_END, 5)
    assert decoded.ack_nak == 0
    assert raw[1] == 0x11
    assert decoded.data[0] == (0x03 if log == 1 else 0x04)
    assert decoded.data[1:] == (767232000).to_bytes(4, "big") == wire("2DBB0800")

    request = decode_profile_log_request(decoded.data)
    assert request == ProfileLogRequest(log=log, start=APRIL_24)
    rebuilt = Frame(destination=0, source=HEAD_END, sequence=5, data=request.encode())
    assert rebuilt.encode() == raw


def test_profile_log_1_response_decodes_to_five_captured_records() -> None:
    raw = wire(PROFILE_LOG_1_FRAME)
    frame = decode_frame(raw)
    assert (frame.destination, frame.source, frame.sequence, frame.ack_nak) == (
        HEAD_END,
        METER,
        5,
        0,
    )
    assert raw[1] == 0x61 and len(raw) == 98

    response = decode_profile_log_response(frame.data)
    assert response.log == 1
    assert response.echo == wire("00 08 BB 2D")
    # Read big-endian the echo is 572205 s, 2000-01-07 (§9.5).
    assert int.from_bytes(response.echo, "big") == 572205
    assert response.block[70:] == wire("34" + "00" * 9)  # the 10 trailing bytes

    start = datetime(2024, 4, 16, 6, 0, tzinfo=UTC)
    expected = [
        ProfileLog1Record(
            timestamp=start + timedelta(minutes=30 * index),
            status=ProfileStatus.RESET if index == 0 else ProfileStatus.VALID_DATA,
            import_a_wh=1776,
            import_b_wh=1861,
        )
        for index in range(5)
    ]
    assert response.records() == expected
    assert response.records()[0].status == 0x0001  # wire `01 00`
    assert response.records()[1].status == 0x8000  # wire `00 80`


def test_profile_log_1_response_reencodes_from_decoded_records() -> None:
    raw = wire(PROFILE_LOG_1_FRAME)
    response = decode_profile_log_response(decode_frame(raw).data)
    records = response.records()
    block = encode_profile_block(records, log=1, twin_element=False)
    # Five 14-byte records re-encode exactly; the 10 trailing bytes (meaning unknown, §9.5)
    # are not part of any record and travel as the response's raw block.
    assert block[:70] == response.block[:70]
    rebuilt = ProfileLogResponse(log=1, echo=response.echo, block=block[:70] + response.block[70:])
    frame = Frame(destination=HEAD_END, source=METER, sequence=5, data=rebuilt.encode())
    assert frame.encode() == raw


def test_profile_log_2_single_element_response_decodes_and_reencodes() -> None:
    raw = wire(PROFILE_LOG_2_FRAME)
    frame = decode_frame(raw)
    assert (frame.destination, frame.source, frame.sequence, frame.ack_nak) == (
        HEAD_END,
        METER,
        5,
        0,
    )
    assert raw[1] == 0x61 and len(raw) == 98

    response = decode_profile_log_response(frame.data)
    assert response.log == 2
    start = datetime(2024, 8, 21, tzinfo=UTC)
    assert v.datetime_from_emop_seconds(int.from_bytes(response.echo, "big")) == start
    expected = [
        ProfileLog2Record(
            timestamp=start + timedelta(minutes=30 * index),
            status=ProfileStatus.VALID_DATA,
            active_export_a_wh=2240 + index,
            reactive_import_a_varh=0,
            reactive_export_a_varh=0,
            voltage_raw=2386,
        )
        for index in range(3)
    ]
    records = response.records(twin_element=False)
    assert records == expected

    block = encode_profile_block(records, log=2, twin_element=False)
    rebuilt = ProfileLogResponse(log=2, echo=response.echo, block=block)
    assert Frame(HEAD_END, METER, 5, rebuilt.encode()).encode() == raw


# ---------------------------------------------------------------- event log (§10)


@pytest.mark.parametrize(
    ("page", "frame"),
    [
        (0, EVENT_LOG_REQUESTS["10.1-event-log-page-0-request"]),
        (9, EVENT_LOG_REQUESTS["10.1-event-log-page-9-request"]),
    ],
    ids=list(EVENT_LOG_REQUESTS),
)
def test_event_log_request_decodes_to_page_and_reencodes(page: int, frame: str) -> None:
    raw = wire(frame)
    decoded = decode_frame(raw)
    assert (decoded.destination, decoded.source, decoded.sequence, decoded.ack_nak) == (
        0,
        HEAD_END,
        5,
        0,
    )
    assert decoded.data[:4] == wire("05 FF FF 49")
    assert decode_event_log_request(decoded.data) == EventLogRequest(page=page)
    rebuilt = Frame(0, HEAD_END, 5, EventLogRequest(page).encode())
    assert rebuilt.encode() == raw


def test_event_log_response_decodes_to_documented_entries_newest_first() -> None:
    raw = wire(EVENT_LOG_FRAME)
    frame = decode_frame(raw)
    assert (frame.destination, frame.source, frame.sequence, frame.ack_nak) == (
        HEAD_END,
        METER,
        5,
        0,
    )
    assert raw[1] == 0x4D and len(raw) == 78

    response = decode_event_log_response(frame.data)
    assert response.page == 0
    assert len(response.entries) == 10
    # Spelled out in §10.2: a top-up (id 48, set 7) then the daily snapshot (id 38, set 4).
    assert response.entries[0] == EventLogEntry(datetime(2024, 11, 11, 10, tzinfo=UTC), 48, 7)
    assert response.entries[1] == EventLogEntry(datetime(2024, 11, 11, tzinfo=UTC), 38, 4)
    # The rest of the page, read from the frame by the §10.2 layout: one daily snapshot per
    # preceding midnight, sets counting down 3, 2, 1 then 0.
    for days_back, entry in enumerate(response.entries[2:], start=1):
        assert entry.timestamp == datetime(2024, 11, 11, tzinfo=UTC) - timedelta(days=days_back)
        assert entry.event_id == 38
        assert entry.event_set == max(4 - days_back, 0)
    timestamps = [entry.timestamp for entry in response.entries]
    assert timestamps == sorted(timestamps, reverse=True)


def test_event_log_response_reencodes_from_decoded_entries() -> None:
    raw = wire(EVENT_LOG_FRAME)
    response = decode_event_log_response(decode_frame(raw).data)
    rebuilt = EventLogResponse(page=response.page, entries=tuple(response.entries))
    assert Frame(HEAD_END, METER, 5, rebuilt.encode()).encode() == raw


# ---------------------------------------------------------------- every frame (§2.3)


@pytest.mark.parametrize("frame", list(ALL_SPEC_FRAMES.values()), ids=list(ALL_SPEC_FRAMES))
def test_spec_frame_crc_residue_is_zero_and_crc_is_big_endian(frame: str) -> None:
    raw = wire(frame)
    assert crc16_ccitt_false(raw[1:]) == 0
    assert crc16_ccitt_false(raw[1:-2]).to_bytes(2, "big") == raw[-2:]
