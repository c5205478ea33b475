"""Fuzzing: whatever bytes or values arrive, only the protocol's own EmopError subclasses escape;
bytes that make a well-formed frame decode, and only malformed ones are refused (FrameError, or
CrcError when the CRC alone is wrong), as the spec's framing rules restated here predict."""

from __future__ import annotations

import binascii
from collections.abc import Callable
from contextlib import suppress
from datetime import timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagster_project.emop import objects as o
from dagster_project.emop import values as v
from dagster_project.emop.data import (
    ProfileLogRequest,
    decode_default,
    decode_event_log_request,
    decode_event_log_response,
    decode_profile_log_request,
    decode_profile_log_response,
)
from dagster_project.emop.errors import CrcError, EmopError, EncodeError, FrameError
from dagster_project.emop.frame import Frame, decode_frame
from dagster_project.emop.tariffs import Tariff, future_tariff_writes
from tests.support.spec_frames import ALL_SPEC_FRAMES, wire

FUZZ = settings(deadline=None, max_examples=300)

#: Decoders of a single value that the catalogue does not name on its own.
EXTRA_VALUE_DECODERS: tuple[Callable[[bytes], Any], ...] = (
    v.decode_u8,
    v.decode_u16,
    v.decode_u32,
    v.decode_s32,
    v.decode_emop_time,
    v.decode_ascii,
)


def decode_payload(payload: bytes) -> None:
    """Decode a default-format payload as every object and codec would."""
    for decode in (*(obj.decode for obj in o.ALL_OBJECTS), *EXTRA_VALUE_DECODERS):
        with suppress(EmopError):
            decode(payload)


def decode_data_field(data: bytes) -> list[str]:
    """Decode a data field in every record format; what a decoder accepts must re-encode.
    The names of the formats that accepted it."""
    accepted = []
    with suppress(EmopError):
        record = decode_default(data)
        assert record.encode() == data
        decode_payload(record.payload)
        accepted.append("default")
    with suppress(EmopError):
        request = decode_profile_log_request(data)
        assert request.encode() == data
        accepted.append("profile-log request")
    with suppress(EmopError):
        response = decode_profile_log_response(data)
        assert response.encode() == data
        response.records(twin_element=False)
        response.records(twin_element=True)
        accepted.append("profile-log response")
    with suppress(EmopError):
        page = decode_event_log_request(data)
        assert page.encode() == data
        accepted.append("event-log request")
    with suppress(EmopError):
        decode_event_log_response(data)
        accepted.append("event-log response")
    return accepted


# The framing rules of spec §2, restated so that the codec is judged against the spec rather than
# against itself: 7E | L | ... | CRC, L counting every byte after the delimiter.
DELIMITER = 0x7E
MIN_L = 17  # the shortest frame of any format: a default-format read or NAK with no payload


def crc_ok(raw: bytes) -> bool:
    # CRC-16/CCITT-FALSE over L to the CRC leaves a zero residue; binascii's is an implementation
    # of its own (initial value 0xFFFF), not the codec's.
    return binascii.crc_hqx(raw[1:], 0xFFFF) == 0


def well_shaped(raw: bytes) -> bool:
    """A delimiter, a possible L, and exactly as many bytes as L says (the CRC aside)."""
    return len(raw) >= 2 and raw[0] == DELIMITER and raw[1] >= MIN_L and len(raw) == raw[1] + 1


def decode_checked(raw: bytes) -> Frame | None:
    """decode_frame held to the framing rules: a well-formed frame decodes and re-encodes to the
    same bytes; anything else is refused with FrameError, a CrcError exactly when the frame is
    well shaped and only its CRC is wrong. None when refused."""
    if well_shaped(raw) and crc_ok(raw):
        frame = decode_frame(raw)
        assert frame.encode() == raw
        return frame
    with pytest.raises(FrameError) as refused:
        decode_frame(raw)
    assert isinstance(refused.value, CrcError) == well_shaped(raw), refused.value
    return None


def decode_everything(raw: bytes) -> None:
    """What a client or simulator does with bytes off the wire; an accepted frame re-encodes."""
    frame = decode_checked(raw)
    if frame is not None:
        decode_data_field(frame.data)


def with_valid_length_and_crc(raw: bytes) -> bytes:
    """Repair a mutated frame's length byte and CRC so it reaches the data-field decoders (a
    frame of more than 255 bytes stays malformed: its L cannot say so)."""
    if len(raw) < 4:
        return raw
    body = bytearray(raw[:-2])
    body[1] = (len(raw) - 1) & 0xFF
    return bytes(body) + binascii.crc_hqx(bytes(body[1:]), 0xFFFF).to_bytes(2, "big")


def framed(raw: bytes) -> bytes:
    """The same bytes behind a delimiter, with L and CRC set: well formed whenever the length
    fits, so the random-byte tests also reach frames that must decode."""
    return with_valid_length_and_crc(b"\x7e" + raw)


# ---------------------------------------------------------------- strategies

_FORMATS = [0x01, 0x03, 0x04, 0x05, 0x14, 0x00, 0xFF]
_OBJECT_IDS = [obj.id_bytes for obj in o.ALL_OBJECTS] + [b"\xff\xff\x49", b"\x80\x03\x09"]
_PAYLOAD_SIZES = [0, 1, 2, 3, 4, 5, 7, 8, 14, 16, 20, 21]

default_data = st.builds(
    lambda object_id, rw, payload: b"\x01" + object_id + bytes([rw]) + payload,
    st.sampled_from(_OBJECT_IDS),
    st.sampled_from([0, 1, 2, 0xFF]),
    st.sampled_from(_PAYLOAD_SIZES).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
)
profile_data = st.builds(
    lambda fmt, rest: bytes([fmt]) + rest,
    st.sampled_from([0x03, 0x04]),
    st.one_of(st.binary(min_size=84, max_size=84), st.binary(max_size=100)),
)
event_data = st.builds(
    lambda page, rest: b"\x05\xff\xff\x49" + bytes([page]) + rest,
    st.integers(0, 0xFF),
    st.one_of(st.binary(min_size=60, max_size=60), st.binary(max_size=80)),
)
any_data = st.builds(
    lambda fmt, rest: bytes([fmt]) + rest, st.sampled_from(_FORMATS), st.binary(max_size=120)
)
data_fields = st.one_of(default_data, profile_data, event_data, any_data, st.binary(max_size=243))

valid_frames = st.one_of(
    st.sampled_from([wire(frame) for frame in ALL_SPEC_FRAMES.values()]),
    st.builds(
        lambda dst, src, seq, data, ack: Frame(dst, src, seq, data, ack).encode(),
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**32 - 1),
        st.integers(0, 7),
        data_fields,
        st.integers(0, 31),
    ),
)


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    """A valid frame after bit flips, truncation, extension, a changed length byte, bytes
    replaced, cut out or slipped in; half the time with its length byte and CRC repaired."""
    raw = bytearray(draw(valid_frames))
    for _ in range(draw(st.integers(1, 3))):
        mutation = draw(
            st.sampled_from(["flip", "truncate", "extend", "length", "byte", "cut", "insert"])
        )
        if mutation == "flip" and raw:
            index = draw(st.integers(0, len(raw) - 1))
            raw[index] ^= 1 << draw(st.integers(0, 7))
        elif mutation == "truncate" and raw:
            del raw[len(raw) - draw(st.integers(1, len(raw))) :]  # mostly a few bytes
        elif mutation == "extend":
            raw += draw(st.binary(min_size=1, max_size=40))
        elif mutation == "cut" and raw:
            start = draw(st.integers(0, len(raw) - 1))
            del raw[start : start + draw(st.integers(1, 8))]
        elif mutation == "insert":
            start = draw(st.integers(0, len(raw)))
            raw[start:start] = draw(st.binary(min_size=1, max_size=8))
        elif mutation == "length" and len(raw) > 1:
            raw[1] = draw(st.integers(0, 0xFF))
        elif mutation == "byte" and raw:
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 0xFF))
    if draw(st.booleans()):
        return with_valid_length_and_crc(bytes(raw))
    return bytes(raw)


# ---------------------------------------------------------------- decoders


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_emop_errors(raw: bytes) -> None:
    decode_everything(raw)
    decode_everything(framed(raw))


@FUZZ
@given(st.binary(max_size=260).map(lambda rest: b"\x7e" + rest))
def test_random_bytes_after_a_delimiter_raise_only_emop_errors(raw: bytes) -> None:
    decode_everything(raw)
    decode_everything(with_valid_length_and_crc(raw))


@FUZZ
@given(mutated_frames())
def test_mutated_valid_frames_raise_only_emop_errors(raw: bytes) -> None:
    decode_everything(raw)


@FUZZ
@given(
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 7),
    data_fields,
    st.integers(0, 31),
)
def test_well_framed_random_data_fields_raise_only_emop_errors(
    destination: int, source: int, sequence: int, data: bytes, ack_nak: int
) -> None:
    frame = Frame(destination, source, sequence, data, ack_nak)
    raw = frame.encode()
    # The encoder also frames data fields under the spec's minimum L, which every decoder
    # refuses (test_roundtrips.py); every other frame decodes to what was encoded.
    assert decode_checked(raw) == (frame if well_shaped(raw) else None)
    decode_data_field(data)


@FUZZ
@given(
    st.one_of(
        st.sampled_from(_PAYLOAD_SIZES).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
        st.binary(max_size=40),
    )
)
def test_every_object_decoder_raises_only_emop_errors(payload: bytes) -> None:
    decode_payload(payload)


@FUZZ
@given(
    st.lists(st.integers(0, 0xFF), min_size=7, max_size=7).map(bytes),
)
def test_random_date_time_records_raise_only_decode_errors(payload: bytes) -> None:
    with suppress(EmopError):
        moment = v.decode_time_record(payload)
        assert v.encode_time_record(moment)[:6] == payload[:6]


@pytest.mark.parametrize("frame", list(ALL_SPEC_FRAMES.values()), ids=list(ALL_SPEC_FRAMES))
def test_every_single_bit_flip_of_a_spec_frame_is_detected(frame: str) -> None:
    raw = wire(frame)
    assert decode_checked(raw) is not None  # a decoder refusing everything detects nothing
    for index in range(len(raw)):
        for bit in range(8):
            flipped = bytearray(raw)
            flipped[index] ^= 1 << bit
            assert decode_checked(bytes(flipped)) is None, (index, bit)


@pytest.mark.parametrize("frame", list(ALL_SPEC_FRAMES.values()), ids=list(ALL_SPEC_FRAMES))
def test_every_truncation_of_a_spec_frame_is_a_frame_error(frame: str) -> None:
    raw = wire(frame)
    assert decode_checked(raw) is not None  # the whole frame is no error
    for size in range(len(raw)):
        assert decode_checked(raw[:size]) is None, size


# ---------------------------------------------------------------- encoders

any_decimal = st.decimals(allow_nan=True, allow_infinity=True)
any_money = st.one_of(any_decimal, st.floats(), st.text(max_size=12), st.integers().map(str))
any_aware_time = st.datetimes(
    timezones=st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m)))
)
any_time = st.one_of(any_aware_time, st.datetimes())

ENCODER_INPUTS: list[tuple[str, Callable[[Any], bytes], st.SearchStrategy[Any]]] = [
    ("u8", v.encode_u8, st.integers()),
    ("u16", v.encode_u16, st.integers()),
    ("u32", v.encode_u32, st.integers()),
    ("s32", v.encode_s32, st.integers()),
    ("money", v.encode_money, any_money),
    ("signed-money", v.encode_signed_money, any_money),
    ("emop-time", v.encode_emop_time, any_time),
    ("time-record", v.encode_time_record, any_time),
    ("ascii", lambda text: v.encode_ascii(text, 16), st.text(max_size=24)),
    ("hardware", v.encode_hardware, st.text(max_size=8)),
    ("firmware", v.encode_firmware, st.text(max_size=8)),
    ("voltage", v.encode_voltage, any_decimal),
    (
        "registers",
        v.encode_registers,
        st.builds(v.ElementRegisters, st.integers(), st.integers(), st.integers(), st.integers()),
    ),
    ("serial", o.SERIAL.encode, st.text(max_size=24)),
    ("token", o.PREPAY_TOKEN.encode, st.text(max_size=24)),
    ("profile-log-request", lambda start: ProfileLogRequest(1, start).encode(), any_time),
]


@pytest.mark.parametrize(
    ("encode", "values"),
    [(encode, values) for _, encode, values in ENCODER_INPUTS],
    ids=[name for name, _, _ in ENCODER_INPUTS],
)
@settings(deadline=None, max_examples=100)
@given(data=st.data())
def test_value_encoders_refuse_bad_values_only_with_encode_error(
    encode: Callable[[Any], bytes], values: st.SearchStrategy[Any], data: st.DataObject
) -> None:
    with suppress(EncodeError):
        encode(data.draw(values))


@settings(deadline=None, max_examples=100)
@given(
    st.builds(
        Tariff,
        standing_charge=any_decimal,
        unit_rate_element_a=any_decimal,
        unit_rate_element_b=any_decimal,
        prepayment_ecredit_availability=any_decimal,
        prepayment_debt_recovery_rate=any_decimal,
        prepayment_emergency_credit=any_decimal,
        activation_datetime=st.none() | st.datetimes(),
    )
)
def test_future_tariff_writes_refuse_bad_tariffs_only_with_encode_error(tariff: Tariff) -> None:
    with suppress(EncodeError):
        future_tariff_writes(tariff)


@pytest.mark.parametrize("frame", list(ALL_SPEC_FRAMES.values()), ids=list(ALL_SPEC_FRAMES))
def test_spec_frames_pass_every_decoder_layer(frame: str) -> None:
    decoded = decode_checked(wire(frame))
    assert decoded is not None
    # Every spec frame's data field is one of the record formats.
    assert decode_data_field(decoded.data) != []
