"""The data field of a frame in each record format: default (0x01), profile logs (0x03, 0x04)
and event log (0x05)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from . import values as v
from .errors import DecodeError, EncodeError


class RecordFormat(IntEnum):
    DEFAULT = 0x01
    PROFILE_LOG_1 = 0x03
    PROFILE_LOG_2 = 0x04
    EVENT_LOG = 0x05


READ = 0x00
WRITE = 0x01
EVENT_LOG_OBJECT_ID = 0xFFFF49
PROFILE_BLOCK_SIZE = 80
EVENT_PAGE_ENTRIES = 10
EVENT_PAGES = 10
#: A register the meter could not record; stored as NULL, never as a number.
MISSING_REGISTER = 0xFFFFFFFF

# ---------------------------------------------------------------- default format


@dataclass(frozen=True)
class DefaultRecord:
    """Read or write of one object; a read response or write request carries a payload."""

    object_id: int
    write: bool = False
    payload: bytes = b""

    def encode(self) -> bytes:
        return (
            bytes([RecordFormat.DEFAULT])
            + self.object_id.to_bytes(3, "big")
            + bytes([WRITE if self.write else READ])
            + self.payload
        )


def decode_default(data: bytes) -> DefaultRecord:
    if len(data) < 5 or data[0] != RecordFormat.DEFAULT:
        raise DecodeError("not a default-format data field", received=data)
    if data[4] not in (READ, WRITE):
        raise DecodeError(f"read/write flag must be 0 or 1, got {data[4]}", received=data)
    return DefaultRecord(
        object_id=int.from_bytes(data[1:4], "big"), write=data[4] == WRITE, payload=bytes(data[5:])
    )


# ---------------------------------------------------------------- profile logs


class ProfileStatus:
    VALID_DATA = 1 << 15
    POWER_FAIL = 1 << 14
    MINOR_TIME_ERROR = 1 << 13
    MAJOR_TIME_ERROR = 1 << 12
    COMMS_ERROR = 1 << 11
    RESET = 1 << 0


@dataclass(frozen=True)
class ProfileLogRequest:
    log: int  # 1 or 2
    start: datetime  # records at or after this time

    def encode(self) -> bytes:
        fmt = RecordFormat.PROFILE_LOG_1 if self.log == 1 else RecordFormat.PROFILE_LOG_2
        # The request time is the one big-endian integer in the protocol.
        return bytes([fmt]) + v.emop_seconds_from_datetime(self.start).to_bytes(4, "big")


def decode_profile_log_request(data: bytes) -> ProfileLogRequest:
    if len(data) != 5 or data[0] not in (RecordFormat.PROFILE_LOG_1, RecordFormat.PROFILE_LOG_2):
        raise DecodeError("not a profile-log request", received=data)
    return ProfileLogRequest(
        log=1 if data[0] == RecordFormat.PROFILE_LOG_1 else 2,
        start=v.datetime_from_emop_seconds(int.from_bytes(data[1:5], "big")),
    )


@dataclass(frozen=True)
class ProfileLog1Record:
    timestamp: datetime
    status: int
    import_a_wh: int | None
    import_b_wh: int | None


@dataclass(frozen=True)
class ProfileLog2Record:
    timestamp: datetime
    status: int
    active_export_a_wh: int | None
    reactive_import_a_varh: int | None
    reactive_export_a_varh: int | None
    voltage_raw: int | None
    active_export_b_wh: int | None = None
    reactive_import_b_varh: int | None = None
    reactive_export_b_varh: int | None = None


ProfileRecord = ProfileLog1Record | ProfileLog2Record

_LOG1 = struct.Struct("<IHII")
_LOG2_SINGLE = struct.Struct("<IHIIII")
_LOG2_TWIN = struct.Struct("<IHIIIIIII")


def _register(raw: int) -> int | None:
    return None if raw == MISSING_REGISTER else raw


def _layout(log: int, twin_element: bool) -> struct.Struct:
    if log == 1:
        return _LOG1
    return _LOG2_TWIN if twin_element else _LOG2_SINGLE


def records_per_block(log: int, twin_element: bool) -> int:
    return PROFILE_BLOCK_SIZE // _layout(log, twin_element).size


@dataclass(frozen=True)
class ProfileLogResponse:
    log: int
    echo: bytes  # the 4 request-time bytes, as sent
    block: bytes  # 80 bytes of records, zero padded

    def encode(self) -> bytes:
        fmt = RecordFormat.PROFILE_LOG_1 if self.log == 1 else RecordFormat.PROFILE_LOG_2
        return bytes([fmt]) + self.echo + self.block

    def records(self, twin_element: bool = False) -> list[ProfileRecord]:
        """The records in the block; all-zero slots (padding) are left out."""
        layout = _layout(self.log, twin_element)
        out: list[ProfileRecord] = []
        for index in range(records_per_block(self.log, twin_element)):
            raw = layout.unpack_from(self.block, index * layout.size)
            if raw[0] == 0:
                continue
            timestamp = v.datetime_from_emop_seconds(raw[0])
            registers = [_register(value) for value in raw[2:]]
            if self.log == 1:
                out.append(ProfileLog1Record(timestamp, raw[1], *registers))
            else:
                out.append(ProfileLog2Record(timestamp, raw[1], *registers))
        return out


def decode_profile_log_response(data: bytes) -> ProfileLogResponse:
    if len(data) != 1 + 4 + PROFILE_BLOCK_SIZE or data[0] not in (
        RecordFormat.PROFILE_LOG_1,
        RecordFormat.PROFILE_LOG_2,
    ):
        raise DecodeError("not a profile-log response", received=data)
    return ProfileLogResponse(
        log=1 if data[0] == RecordFormat.PROFILE_LOG_1 else 2,
        echo=bytes(data[1:5]),
        block=bytes(data[5:]),
    )


def encode_profile_block(records: list[ProfileRecord], log: int, twin_element: bool) -> bytes:
    layout = _layout(log, twin_element)
    if len(records) > records_per_block(log, twin_element):
        raise EncodeError(f"at most {records_per_block(log, twin_element)} records fit a block")
    out = bytearray()
    for record in records:
        registers = [
            MISSING_REGISTER if value is None else value
            for value in _record_registers(record, twin_element)
        ]
        out += layout.pack(
            v.emop_seconds_from_datetime(record.timestamp), record.status, *registers
        )
    return bytes(out.ljust(PROFILE_BLOCK_SIZE, b"\x00"))


def _record_registers(record: ProfileRecord, twin_element: bool) -> list[int | None]:
    if isinstance(record, ProfileLog1Record):
        return [record.import_a_wh, record.import_b_wh]
    single = [
        record.active_export_a_wh,
        record.reactive_import_a_varh,
        record.reactive_export_a_varh,
        record.voltage_raw,
    ]
    if not twin_element:
        return single
    return [
        *single,
        record.active_export_b_wh,
        record.reactive_import_b_varh,
        record.reactive_export_b_varh,
    ]


# ---------------------------------------------------------------- event log


@dataclass(frozen=True)
class EventLogRequest:
    page: int  # 0 = newest ten entries ... 9 = oldest

    def encode(self) -> bytes:
        if not 0 <= self.page < EVENT_PAGES:
            raise EncodeError(f"event log page must be 0-{EVENT_PAGES - 1}, got {self.page}")
        return (
            bytes([RecordFormat.EVENT_LOG])
            + EVENT_LOG_OBJECT_ID.to_bytes(3, "big")
            + bytes([self.page])
        )


def decode_event_log_request(data: bytes) -> EventLogRequest:
    if (
        len(data) != 5
        or data[0] != RecordFormat.EVENT_LOG
        or int.from_bytes(data[1:4], "big") != EVENT_LOG_OBJECT_ID
    ):
        raise DecodeError("not an event-log request", received=data)
    if data[4] >= EVENT_PAGES:
        raise DecodeError(
            f"event log page must be 0-{EVENT_PAGES - 1}, got {data[4]}", received=data
        )
    return EventLogRequest(page=data[4])


@dataclass(frozen=True)
class EventLogEntry:
    timestamp: datetime
    event_id: int
    event_set: int


_EVENT = struct.Struct("<IBB")


@dataclass(frozen=True)
class EventLogResponse:
    page: int
    entries: tuple[EventLogEntry, ...]  # newest first; invalid (id 0) and padding left out

    def encode(self) -> bytes:
        if len(self.entries) > EVENT_PAGE_ENTRIES:
            raise EncodeError(f"at most {EVENT_PAGE_ENTRIES} events fit a page")
        block = b"".join(
            _EVENT.pack(v.emop_seconds_from_datetime(e.timestamp), e.event_id, e.event_set)
            for e in self.entries
        ).ljust(EVENT_PAGE_ENTRIES * _EVENT.size, b"\x00")
        return EventLogRequest(self.page).encode() + block


def decode_event_log_response(data: bytes) -> EventLogResponse:
    if (
        len(data) != 5 + EVENT_PAGE_ENTRIES * _EVENT.size
        or data[0] != RecordFormat.EVENT_LOG
        or int.from_bytes(data[1:4], "big") != EVENT_LOG_OBJECT_ID
    ):
        raise DecodeError("not an event-log response", received=data)
    entries = []
    for index in range(EVENT_PAGE_ENTRIES):
        seconds, event_id, event_set = _EVENT.unpack_from(data, 5 + index * _EVENT.size)
        if event_id == 0 or seconds == 0:  # id 0 is invalid on real meters; zeros are padding
            continue
        entries.append(EventLogEntry(v.datetime_from_emop_seconds(seconds), event_id, event_set))
    return EventLogResponse(page=data[4], entries=tuple(entries))
