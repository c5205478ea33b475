"""EMOP frames: delimiter, length, addresses, control byte, data field and CRC.

Layout: 7E | L | destination (4, BE) | source (4, BE) | control | data (L-12) | CRC (2, BE),
where L counts every byte after the delimiter, itself and the CRC included.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .crc import crc16_ccitt_false
from .errors import CrcError, EmopError, FrameError, MeterConnectionError

DELIMITER = 0x7E
HEADER_SIZE = 11  # delimiter, length, destination, source, control
CRC_SIZE = 2
#: L of the smallest frame any format produces (a default read or a NAK, five data bytes).
MIN_LENGTH = 17
MAX_LENGTH = 0xFF
#: Bytes skipped while looking for a frame's start before giving up on the response.
MAX_GARBAGE_BYTES = 512
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


class FrameScanner:
    """Finds one frame in a byte stream that may carry noise first, 0x7E bytes included.

    Every 0x7E is a candidate frame start. A candidate whose length byte is impossible, or whose
    CRC fails once all its bytes are in, was a false start: the scan goes on from the next 0x7E
    already received, and keeps reading. A CRC failure on a frame addressed to `answering` is
    the meter's answer corrupted, not noise, and fails at once. Feed it no more than `wanted`
    bytes at a time and it never takes bytes past the end of the frame it returns.
    """

    def __init__(self, *, answering: int | None = None, max_garbage: int = MAX_GARBAGE_BYTES):
        #: Everything received so far, noise included (for error messages).
        self.received = bytearray()
        #: Why the last false start was rejected.
        self.rejected: FrameError | None = None
        self._answering = answering
        self._max_garbage = max_garbage
        self._candidates: list[int] = []  # starts not yet rejected, in order

    def wanted(self) -> int:
        """How many bytes to read next: at most up to the end of the shortest frame a
        candidate can make, and never enough for an unseen frame to end inside them."""
        received = self.received
        limit = MIN_LENGTH + 1  # the shortest frame starting at the next byte
        for start in self._candidates:
            if start + 1 < len(received):
                end = start + received[start + 1] + 1
            else:
                end = start + MIN_LENGTH + 1
            limit = min(limit, end - len(received))
        return max(limit, 1)

    def feed(self, chunk: bytes) -> bytes | None:
        """Take more bytes; the frame once one is whole with a good CRC, else None."""
        offset = len(self.received)
        self.received += chunk
        self._candidates += [offset + i for i, byte in enumerate(chunk) if byte == DELIMITER]
        frame = self._complete_frame()
        if frame is None:
            self._check_garbage()
        return frame

    def closed_error(self) -> EmopError:
        """The error for a stream that ended now."""
        received = bytes(self.received)
        if self._candidates:
            return MeterConnectionError(
                f"connection closed mid-frame after {len(received)} bytes", received=received
            )
        if self.rejected is not None:
            self.rejected.received = received
            return self.rejected
        return MeterConnectionError("connection closed before a frame arrived", received=received)

    def note(self) -> str:
        """What was skipped, for an error message; empty when nothing was."""
        return f" (skipped a false frame start: {self.rejected.message})" if self.rejected else ""

    def _complete_frame(self) -> bytes | None:
        received = self.received
        for start in list(self._candidates):
            if start + 1 >= len(received):
                break  # its length byte is not in yet (only the last byte can be such a start)
            length = received[start + 1]
            if length < MIN_LENGTH:
                message = f"frame length {length} is under the minimum {MIN_LENGTH}"
                self._reject(start, FrameError(message, received=bytes(received[start:])))
                continue
            end = start + length + 1
            if len(received) < end:
                continue
            raw = bytes(received[start:end])
            try:
                decode_frame(raw)  # delimiter and length hold here: only the CRC can fail
            except CrcError as error:
                if self._answers_us(raw):
                    error.received = bytes(received)
                    raise
                self._reject(start, error)
                continue
            return raw
        return None

    def _answers_us(self, raw: bytes) -> bool:
        return self._answering is not None and int.from_bytes(raw[2:6]) == self._answering

    def _reject(self, start: int, error: FrameError) -> None:
        self._candidates.remove(start)
        self.rejected = error

    def _check_garbage(self) -> None:
        first = self._candidates[0] if self._candidates else len(self.received)
        if first <= self._max_garbage:
            return
        if self.rejected is None and not self._candidates:
            message = f"no frame delimiter in {self._max_garbage} bytes"
        else:
            last = f": {self.rejected.message}" if self.rejected else ""
            message = f"no valid frame start in the first {self._max_garbage} bytes{last}"
        raise FrameError(message, received=bytes(self.received))
