"""A loopback TCP relay in front of one simulated meter: it sees every request frame on its way
and can lose or damage it, as a bad line would; it can also put noise before the meter's
answers, or pass on only their first bytes and then nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from dagster_project.emop import objects as o
from dagster_project.emop.state import MeterEndpoint
from dagster_project.simulator.server import SimMeter

FORWARD = "forward"
#: Not passed on: the client hears nothing (a lost request).
DROP = "drop"
#: Passed on with its CRC broken: the meter answers NAK 1.
CORRUPT = "corrupt"

#: Decides the fate of request number n (from 0) with this data field.
Tamper = Callable[[int, bytes], str]


def object_id(data: bytes) -> int:
    return int.from_bytes(data[1:4], "big")


def is_read_of(obj: o.EmopObject) -> Callable[[bytes], bool]:
    return lambda data: data[0] == 0x01 and object_id(data) == obj.object_id and data[4] == 0


class Relay:
    """`async with Relay(meter) as relay:` listens on a free loopback port; `requests` holds
    the data field of every request that reached the relay, in order, whatever its fate.

    Per connection, `answer_noise` goes to the client before the meter's bytes, and with
    `answer_limit` only that many of the meter's bytes are passed on (the connection then stays
    open and silent)."""

    def __init__(
        self,
        meter: SimMeter,
        tamper: Tamper = lambda n, data: FORWARD,
        *,
        answer_noise: bytes = b"",
        answer_limit: int | None = None,
    ) -> None:
        self.meter = meter
        self.tamper = tamper
        self.answer_noise = answer_noise
        self.answer_limit = answer_limit
        self.requests: list[bytes] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Relay:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def endpoint(self, serial: str | None) -> MeterEndpoint:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return MeterEndpoint(host="127.0.0.1", port=port, serial=serial)

    def objects_requested(self) -> list[int]:
        return [object_id(data) for data in self.requests]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        # Stopped by __aexit__: end quietly (the stream machinery reports a cancelled handler).
        with contextlib.suppress(asyncio.CancelledError):
            await self._relay(reader, writer)
        self._tasks.discard(task)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.meter.host, self.meter.port)
        except OSError:
            writer.close()
            return
        answers = asyncio.ensure_future(
            _pump(up_reader, writer, self.answer_noise, self.answer_limit)
        )
        try:
            while (raw := await _read_request(reader)) is not None:
                data = raw[11:-2]
                fate = self.tamper(len(self.requests), data)
                self.requests.append(data)
                if fate == DROP:
                    continue
                if fate == CORRUPT:
                    raw = raw[:-1] + bytes([raw[-1] ^ 0xFF])
                up_writer.write(raw)
                await up_writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            answers.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await answers
            up_writer.close()
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One request frame as the client sends it (no noise), or None when the client closed."""
    try:
        head = await reader.readexactly(2)
        return head + await reader.readexactly(head[1] - 1)
    except asyncio.IncompleteReadError:
        return None


async def _pump(
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, noise: bytes, limit: int | None
) -> None:
    """Noise, then the meter's bytes to the client and its close (or reset) as a close; once
    `limit` of its bytes are passed on, nothing more at all."""
    sink.write(noise)
    left = limit
    try:
        while left is None or left > 0:
            chunk = await source.read(4096 if left is None else left)
            if not chunk:
                break
            if left is not None:
                left -= len(chunk)
            sink.write(chunk)
            await sink.drain()
        else:
            await asyncio.Future()  # silent until the client gives up
    except (ConnectionError, OSError):
        pass
    sink.close()
