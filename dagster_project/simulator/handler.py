"""A meter's answer to one request frame: checks, dispatch by record format, the response frame.

Response header: destination = the request's source, source = the meter's address, control =
(code << 3) | (request control & 7). NAKs echo the first five data bytes (format, object id,
read/write or page byte), zero padded, with no payload: L = 0x11.
"""

from __future__ import annotations

import struct

from dagster_project.emop.crc import crc16_ccitt_false
from dagster_project.emop.data import EVENT_LOG_OBJECT_ID, EVENT_PAGES, RecordFormat
from dagster_project.emop.errors import AckNak
from dagster_project.emop.frame import MIN_LENGTH
from dagster_project.simulator.model import MeterModel, Refused

_HEADER = struct.Struct(">BBIIB")
_DELIMITER = 0x7E
_THREE_PHASE_INTERVALS = 0x14
_NO_NAKS: frozenset[int] = frozenset()


def build_frame(destination: int, source: int, control: int, data: bytes) -> bytes:
    body = _HEADER.pack(_DELIMITER, 12 + len(data), destination, source, control) + data
    return body + crc16_ccitt_false(body[1:]).to_bytes(2, "big")


def respond(
    model: MeterModel,
    raw: bytes,
    t: float,
    base: float,
    nak_ids: frozenset[int] = _NO_NAKS,
    check_destination: bool = False,
) -> bytes:
    """The response frame to one request frame `raw` (0x7E, L, then L - 1 bytes).

    `t` is the model time, `base` the instant the meter's clock is read against.
    """
    address = model.spec.address
    if len(raw) >= 11:
        _, _, destination, source, control = _HEADER.unpack_from(raw)
    else:
        destination = source = control = 0
    sequence = control & 0x07
    data = raw[11:-2]

    def answer(code: int, body: bytes) -> bytes:
        return build_frame(source, address, (code << 3) | sequence, body)

    def nak(code: int) -> bytes:
        return answer(code, bytes(data[:5]).ljust(5, b"\x00"))

    if raw[1] < MIN_LENGTH:
        return nak(AckNak.LENGTH_INCORRECT)
    if crc16_ccitt_false(raw[1:]) != 0:
        return nak(AckNak.CRC_ERROR)
    if check_destination and destination not in (0, address):
        return nak(AckNak.ADDRESS_INCORRECT)
    fmt = data[0]
    if fmt == RecordFormat.DEFAULT:
        object_id = int.from_bytes(data[1:4], "big")
        if data[4] > 1:
            return nak(AckNak.FORMAT_ERROR)
        if object_id in nak_ids:
            return nak(AckNak.OBJECT_NOT_RECOGNISED)
        model.sync(t)
        try:
            if data[4] == 0:
                return answer(AckNak.OK, data[:5] + model.read(object_id, t, base))
            model.write(object_id, data[5:], t, base)
            return answer(AckNak.OK, data[:5])
        except Refused as refused:
            return nak(refused.code)
    if fmt in (RecordFormat.PROFILE_LOG_1, RecordFormat.PROFILE_LOG_2):
        if len(data) != 5:
            return nak(AckNak.LENGTH_INCORRECT)
        model.sync(t)
        log = 1 if fmt == RecordFormat.PROFILE_LOG_1 else 2
        return answer(AckNak.OK, data + model.profile_block(log, int.from_bytes(data[1:], "big")))
    if fmt == RecordFormat.EVENT_LOG:
        if len(data) != 5:
            return nak(AckNak.LENGTH_INCORRECT)
        if int.from_bytes(data[1:4], "big") != EVENT_LOG_OBJECT_ID:
            return nak(AckNak.OBJECT_NOT_RECOGNISED)
        if data[4] >= EVENT_PAGES:
            return nak(AckNak.LENGTH_INCORRECT)
        model.sync(t)
        return answer(AckNak.OK, data + model.event_page(data[4]))
    if fmt == _THREE_PHASE_INTERVALS:  # a single-phase meter has no three-phase profiles
        return nak(AckNak.OBJECT_NOT_RECOGNISED)
    return nak(AckNak.FORMAT_ERROR)
