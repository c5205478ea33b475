"""EMOP frames: delimiter, length, addresses, control byte, data field and CRC.

Layout: 7E | L | destination (4, BE) | source (4, BE) | control | data (L-12) | CRC (2, BE),
where L counts every byte after the delimiter, itself and the CRC included.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .crc import crc16_ccitt_false
from .errors import CrcError, FrameError

DELIMITER = 0x7E
HEADER_SIZE = 11  # delimiter, length, destination, source, control
CRC_SIZE = 2
#: L of the smallest frame any format produces (a default read or a NAK, five data bytes).
MIN_LENGTH = 17
MAX_LENGTH = 0xFF
#: The fixed part of L: the length byte, two addresses, control and the CRC.
LENGTH_OVERHEAD = 12
MAX_DATA_SIZE = MAX_LENGTH - LENGTH_OVERHEAD

_HEADER = struct.Struct(">BBIIB")


@dataclass(frozen=True)
class Frame:
    destination: int
    source: int
    sequence: int
    data: bytes
    ack_nak: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.sequence <= 7:
            raise ValueError(f"sequence must be 0-7, got {self.sequence}")
        if not 0 <= self.ack_nak <= 31:
            raise ValueError(f"ACK/NAK code must be 0-31, got {self.ack_nak}")
        for name in ("destination", "source"):
            if not 0 <= getattr(self, name) <= 0xFFFFFFFF:
                raise ValueError(f"{name} address must fit 32 bits")
        if not LENGTH_OVERHEAD + len(self.data) <= MAX_LENGTH:
            raise ValueError(f"data field of {len(self.data)} bytes does not fit one frame")

    @property
    def control(self) -> int:
        return (self.ack_nak << 3) | self.sequence

    @property
    def length(self) -> int:
        return LENGTH_OVERHEAD + len(self.data)

    def encode(self) -> bytes:
        body = (
            _HEADER.pack(DELIMITER, self.length, self.destination, self.source, self.control)
            + self.data
        )
        return body + crc16_ccitt_false(body[1:]).to_bytes(2, "big")


def decode_frame(raw: bytes) -> Frame:
    """Decode exactly one frame; raise FrameError/CrcError naming what is wrong."""
    if len(raw) < 2:
        raise FrameError("frame too short to hold a delimiter and a length", received=raw)
    if raw[0] != DELIMITER:
        raise FrameError(f"frame does not start with 0x7E (got 0x{raw[0]:02X})", received=raw)
    length = raw[1]
    if length < MIN_LENGTH:
        raise FrameError(f"frame length {length} is under the minimum {MIN_LENGTH}", received=raw)
    if len(raw) != length + 1:
        raise FrameError(
            f"frame length byte says {length + 1} bytes on the wire, got {len(raw)}", received=raw
        )
    if crc16_ccitt_false(raw[1:]) != 0:
        expected = crc16_ccitt_false(raw[1:-2])
        raise CrcError(
            f"CRC mismatch: frame carries {raw[-2:].hex()}, contents give {expected:04x}",
            received=raw,
        )
    _, _, destination, source, control = _HEADER.unpack_from(raw)
    return Frame(
        destination=destination,
        source=source,
        sequence=control & 0x07,
        ack_nak=control >> 3,
        data=bytes(raw[HEADER_SIZE:-CRC_SIZE]),
    )
