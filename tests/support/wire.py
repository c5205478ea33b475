"""A bare EMOP exchange over asyncio sockets and the frame codec (no client library)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from dagster_project.emop.data import DefaultRecord
from dagster_project.emop.frame import Frame, decode_frame
from dagster_project.emop.objects import EmopObject

CLIENT = 0x0021AE42


def read_request(obj: EmopObject, sequence: int = 5) -> bytes:
    data = DefaultRecord(obj.object_id).encode()
    return Frame(destination=0, source=CLIENT, sequence=sequence, data=data).encode()


def frame_request(data: bytes, sequence: int = 5) -> bytes:
    return Frame(destination=0, source=CLIENT, sequence=sequence, data=data).encode()


async def read_frame_bytes(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """(bytes skipped before the delimiter, the whole frame)."""
    skipped = bytearray()
    while True:
        byte = await reader.readexactly(1)
        if byte == b"\x7e":
            break
        skipped += byte
    length = await reader.readexactly(1)
    rest = await reader.readexactly(length[0] - 1)
    return bytes(skipped), b"\x7e" + length + rest


async def exchange(host: str, port: int, request: bytes, timeout: float = 2.0) -> Frame:
    """Connect, send one request, read one response frame, close."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(request)
        _, raw = await asyncio.wait_for(read_frame_bytes(reader), timeout)
        return decode_frame(raw)
    finally:
        writer.close()


def drift_from(clock: datetime, sent: datetime, received: datetime) -> float:
    midpoint = sent + (received - sent) / 2
    return (clock + timedelta(seconds=0.5) - midpoint).total_seconds()


def now() -> datetime:
    return datetime.now(UTC)
