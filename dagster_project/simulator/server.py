"""Serving simulated meters over loopback TCP: one listening socket per meter, faults on the wire.

Per connection (asyncio.Protocol, no streams, no per-request logging): bytes before 0x7E are
dropped, then the length byte L and L - 1 more bytes make one request. A meter answers one
request at a time and serves one connection at a time; a second connection waits (not read)
until the first closes. Connections idle for `idle_timeout_seconds` are closed by the meter.

Faults, as a client sees them:

* offline   - the port is bound but not listening: the connection is refused.
* silent    - accepted and read, never answered (closed only by the client or the idle timeout).
* slow      - every response is sent `slow_seconds` after its request (instead of the latency).
* truncated - the first half of the response frame is sent, then the connection is closed.
* bad_crc   - the response's two CRC bytes are corrupted (XOR A5 5A).
* nak       - requests for `nak_object_ids` (default: voltage) get NAK 5; others are answered.
* garbage   - 3-24 random bytes (never 0x7E, fixed per meter) precede every response frame.
* too_soon  - the meter's gap is at least `too_soon_gap_seconds` (2 s).
Any meter with a gap (fleet `min_gap_seconds` > 0, or too_soon) resets (RST, SO_LINGER 0) a
connection made, or a request received, sooner than the gap after its previous response.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import socket
import struct
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from dagster_project.simulator.clock import DAY_SECONDS, SimClock, floor_day, unix, utc
from dagster_project.simulator.config import (
    BAD_CRC,
    FAULT_KINDS,
    GARBAGE,
    NAK,
    OFFLINE,
    SILENT,
    SLOW,
    TRUNCATED,
    FleetConfig,
)
from dagster_project.simulator.handler import respond
from dagster_project.simulator.identity import P_GARBAGE, MeterSpec, build_specs, esco_ids
from dagster_project.simulator.infrastructure_out import simulated_move_at
from dagster_project.simulator.model import GroundTruth, MeterModel
from dagster_project.simulator.registry_out import RegistryEntry, write_registry_csv
from dagster_project.simulator.rng import Draws, key

_LINGER_ZERO = struct.pack("ii", 1, 0)
#: File descriptors kept free for connections and the event loop in a fleet process.
FD_RESERVE = 1000
_NO_NAKS: frozenset[int] = frozenset()


def raise_fd_limit() -> int:
    """Lift this process's soft open-files limit to the hard limit; return the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def max_meters_per_process() -> int:
    """How many meters (one socket each) one process can hold with room for connections."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = 1_000_000 if hard == resource.RLIM_INFINITY else hard
    return max(1, limit - FD_RESERVE)


class TimeSource:
    """The model time (simulated, or frozen) and the base the meters' clocks are read against."""

    __slots__ = ("clock", "frozen_at")

    def __init__(self, clock: SimClock, frozen_at: float | None) -> None:
        self.clock = clock
        self.frozen_at = frozen_at

    def model_time(self) -> float:
        return self.frozen_at if self.frozen_at is not None else self.clock.sim_seconds()

    def clock_base(self) -> float:
        """Wall time when the model is frozen (so clients measure drift against their own
        clocks), simulated time otherwise."""
        return time.time() if self.frozen_at is not None else self.clock.sim_seconds()


def garbage_for(seed: int, index: int) -> bytes:
    draws = Draws(key(seed, index, P_GARBAGE))
    out = bytearray()
    for _ in range(draws.randint(3, 24)):
        byte = draws.randint(0, 255)
        out.append(0x7D if byte == 0x7E else byte)
    return bytes(out)


class SimMeter:
    """One served meter: identity, state model, listener and connection bookkeeping."""

    __slots__ = (
        "_model",
        "_server",
        "_sock",
        "active",
        "delay",
        "fault",
        "fault_ids",
        "fleet",
        "gap",
        "garbage",
        "last_response",
        "nak_ids",
        "port",
        "spec",
        "waiting",
    )

    def __init__(self, fleet: SimulatedFleet, spec: MeterSpec) -> None:
        self.fleet = fleet
        self.spec = spec
        self._model: MeterModel | None = None
        self._server: asyncio.AbstractServer | None = None
        self._sock: socket.socket | None = None
        self.port = spec.port
        self.active: MeterConnection | None = None
        self.waiting: deque[MeterConnection] | None = None
        self.last_response = float("-inf")
        self._apply_fault(spec.fault)

    def _apply_fault(self, fault: str | None, objects: Iterable[int] | None = None) -> None:
        config = self.fleet.config
        self.fault = fault
        self.gap = config.gap_for(fault)
        self.delay = config.slow_seconds if fault == SLOW else config.latency_seconds
        self.nak_ids = frozenset(config.nak_object_ids) if fault == NAK else _NO_NAKS
        self.fault_ids = None if objects is None else frozenset(objects)
        self.garbage = garbage_for(config.seed, self.spec.index) if fault == GARBAGE else b""

    def fault_for(self, request: bytes) -> str | None:
        """The meter's fault, if it applies to this request frame: every request, or only those
        for the objects set_fault named (a token's write, say)."""
        if self.fault is None or self.fault_ids is None:
            return self.fault
        return self.fault if int.from_bytes(request[12:15], "big") in self.fault_ids else None

    # identity, for tests and the registry
    @property
    def index(self) -> int:
        return self.spec.index

    @property
    def serial(self) -> str:
        return self.spec.serial

    @property
    def host(self) -> str:
        return self.spec.host

    @property
    def address(self) -> int:
        return self.spec.address

    @property
    def hardware(self) -> str:
        return self.spec.hardware

    @property
    def model(self) -> MeterModel:
        model = self._model
        if model is None:
            fleet = self.fleet
            model = self._model = MeterModel(
                self.spec,
                fleet.config.seed,
                fleet.history_start,
                fleet.origin_day,
                fleet.config.profile_capacity,
            )
        return model

    @property
    def listening(self) -> bool:
        return self._server is not None

    def ground_truth(self) -> GroundTruth:
        """What a correct client reads now (at the fleet's model time)."""
        return self.model.ground_truth(self.fleet.time.model_time())

    def registry_entry(self) -> RegistryEntry:
        model = self._model
        return RegistryEntry(
            spec=self.spec,
            port=self.port,
            dst_enabled=model.dst_enabled if model else self.spec.dst_enabled,
            prepay_enabled=model.prepay_enabled if model else self.spec.prepay_enabled,
        )

    def __repr__(self) -> str:
        return f"SimMeter({self.index}, {self.serial}, {self.host}:{self.port}, {self.fault})"


class MeterConnection(asyncio.Protocol):
    """One TCP connection to one meter."""

    __slots__ = ("buffer", "busy", "closed", "idle_handle", "last_seen", "meter", "transport")

    def __init__(self, meter: SimMeter) -> None:
        self.meter = meter
        self.buffer = bytearray()
        self.busy = False
        self.closed = False
        self.idle_handle: asyncio.TimerHandle | None = None
        self.last_seen = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        meter = self.meter
        fleet = meter.fleet
        fleet.connections.add(self)
        now = fleet.loop.time()
        self.last_seen = now
        if meter.gap and now - meter.last_response < meter.gap:
            self._reset()
            return
        if meter.active is None:
            meter.active = self
        else:
            if meter.waiting is None:
                meter.waiting = deque()
            meter.waiting.append(self)
            transport.pause_reading()  # type: ignore[attr-defined]
        self.idle_handle = fleet.loop.call_later(fleet.config.idle_timeout_seconds, self._idle)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.last_seen = self.meter.fleet.loop.time()
        if not self.busy:
            self._process()

    def _process(self) -> None:
        meter = self.meter
        fleet = meter.fleet
        buffer = self.buffer
        while not self.busy and not self.closed:
            start = buffer.find(0x7E)
            if start < 0:
                buffer.clear()
                return
            if start:
                del buffer[:start]
            if len(buffer) < 2:
                return
            size = (buffer[1] or 1) + 1
            if len(buffer) < size:
                return
            raw = bytes(buffer[:size])
            del buffer[:size]
            if meter.gap and fleet.loop.time() - meter.last_response < meter.gap:
                self._reset()
                return
            fault = meter.fault_for(raw)
            if fault == SILENT:
                continue
            delay = meter.delay
            time_source = fleet.time
            response = respond(
                meter.model,
                raw,
                time_source.model_time(),
                time_source.clock_base() + delay / 2,
                meter.nak_ids,
                fleet.config.check_destination,
            )
            if delay > 0:
                self.busy = True
                fleet.loop.call_later(delay, self._send, response, fault)
            else:
                self._send(response, fault)

    def _send(self, response: bytes, fault: str | None) -> None:
        self.busy = False
        if self.closed:
            return
        meter = self.meter
        meter.last_response = meter.fleet.loop.time()
        transport = self.transport
        assert transport is not None
        if fault is None:
            transport.write(response)
        elif fault == TRUNCATED:
            transport.write(response[: len(response) // 2])
            transport.close()
            self.closed = True
            return
        elif fault == BAD_CRC:
            transport.write(response[:-2] + bytes((response[-2] ^ 0xA5, response[-1] ^ 0x5A)))
        elif fault == GARBAGE:
            transport.write(meter.garbage + response)
        else:
            transport.write(response)
        if self.buffer:
            self._process()

    def _reset(self) -> None:
        """Refuse: close with SO_LINGER 0, so the client sees a connection reset."""
        self.closed = True
        transport = self.transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
        transport.abort()

    def _idle(self) -> None:
        if self.closed:
            return
        fleet = self.meter.fleet
        now = fleet.loop.time()
        due = self.last_seen + fleet.config.idle_timeout_seconds
        if self.busy or now < due:
            self.idle_handle = fleet.loop.call_later(max(due - now, 0.5), self._idle)
            return
        self.closed = True
        assert self.transport is not None
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        meter = self.meter
        meter.fleet.connections.discard(self)
        if self.idle_handle is not None:
            self.idle_handle.cancel()
        if meter.active is self:
            meter.active = None
            waiting = meter.waiting
            while waiting:
                following = waiting.popleft()
                if not following.closed:
                    meter.active = following
                    assert following.transport is not None
                    following.transport.resume_reading()  # type: ignore[attr-defined]
                    break
        elif meter.waiting and self in meter.waiting:
            meter.waiting.remove(self)


@dataclass(frozen=True)
class MeterListing:
    """Where one meter answers (what a registry row or a client needs)."""

    index: int
    serial: str
    host: str
    port: int
    fault: str | None
    address: int
    hardware: str


class SimulatedFleet:
    """Meters [indices] of a configured fleet, served from this process's event loop.

    `async with SimulatedFleet(config) as fleet:` starts every listener; `fleet.meters` lists
    one SimMeter per meter in index order.
    """

    def __init__(self, config: FleetConfig, indices: range | None = None) -> None:
        self.config = config = config.resolved()
        self.indices = range(config.meters) if indices is None else indices
        if self.indices.step != 1 or (
            len(self.indices) and not 0 <= self.indices.start <= self.indices[-1] < config.meters
        ):
            raise ValueError(f"{self.indices} is not a contiguous slice of 0..{config.meters - 1}")
        clock = config.clock()
        frozen = unix(config.freeze_at) if config.freeze_model and config.freeze_at else None
        self.time = TimeSource(clock, frozen)
        self.origin_day = floor_day(clock.sim_origin)
        self.history_start = self.origin_day - config.history_days * DAY_SECONDS
        self.meters = [SimMeter(self, spec) for spec in build_specs(config, self.indices)]
        self.connections: set[MeterConnection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started = False

    # ------------------------------------------------------------ lookups and time

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "the fleet is not started"
        return self._loop

    def meter(self, index: int) -> SimMeter:
        if index not in self.indices:
            raise KeyError(f"meter {index} is not in this fleet ({self.indices})")
        return self.meters[index - self.indices.start]

    def by_serial(self, serial: str) -> SimMeter:
        for meter in self.meters:
            if meter.serial == serial:
                return meter
        raise KeyError(serial)

    @property
    def model_time(self) -> datetime:
        return utc(self.time.model_time())

    def freeze(self, at: datetime | None = None) -> None:
        """Hold the consumption model at `at` (default: the current simulated time)."""
        self.time.frozen_at = self.time.clock.sim_seconds() if at is None else unix(at)

    def advance(self, delta: timedelta) -> None:
        """Move a frozen model forward by `delta` (tests: tariff activation, new records)."""
        self.freeze(self.model_time + delta)

    def unfreeze(self) -> None:
        self.time.frozen_at = None

    def listings(self) -> list[MeterListing]:
        return [
            MeterListing(m.index, m.serial, m.host, m.port, m.fault, m.address, m.hardware)
            for m in self.meters
        ]

    def write_registry_csv(self, path: Path | str) -> int:
        """Write the registry CSV for exactly these meters; return the number of rows."""
        return write_registry_csv(
            Path(path),
            (m.registry_entry() for m in self.meters),
            escos=esco_ids(self.config),
            move_at=simulated_move_at(self.config),
        )

    # ------------------------------------------------------------ serving

    async def __aenter__(self) -> SimulatedFleet:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        if self.started:
            return
        limit = raise_fd_limit()
        if len(self.meters) > limit - FD_RESERVE:
            raise ValueError(
                f"{len(self.meters)} meters need as many sockets, but this process may open "
                f"{limit} files ({FD_RESERVE} kept for connections); serve the fleet from "
                "several processes (ProcessFleet / run_simulator)"
            )
        self._loop = asyncio.get_running_loop()
        self.started = True
        try:
            for meter in self.meters:
                self._bind(meter)
                if meter.fault != OFFLINE:
                    await self._listen(meter)
        except BaseException:
            await self.stop()
            raise

    def _bind(self, meter: SimMeter) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((meter.host, meter.port))
        except OSError as error:
            sock.close()
            raise OSError(
                error.errno, f"meter {meter.index} cannot bind {meter.host}:{meter.port}: {error}"
            ) from None
        sock.setblocking(False)
        meter._sock = sock
        meter.port = sock.getsockname()[1]

    async def _listen(self, meter: SimMeter) -> None:
        assert meter._sock is not None
        meter._server = await self.loop.create_server(
            partial(MeterConnection, meter), sock=meter._sock, backlog=64
        )

    async def set_fault(
        self, index: int, fault: str | None, objects: Iterable[int] | None = None
    ) -> None:
        """Change one meter's fault while serving (e.g. take it offline and back). With
        `objects` (ids), a fault of its answers (silent, truncated, bad CRC, noise) hits only
        requests for those objects, and the meter answers the rest as usual."""
        if fault is not None and fault not in FAULT_KINDS:
            raise ValueError(f"unknown fault {fault!r}")
        meter = self.meter(index)
        was_offline = meter.fault == OFFLINE
        meter._apply_fault(fault, objects)
        if not self.started:
            return
        if fault == OFFLINE and not was_offline:
            self._close_meter(meter)
            self._bind(meter)  # same host and port, bound but not listening: refused
        elif was_offline and fault != OFFLINE:
            await self._listen(meter)

    def _close_meter(self, meter: SimMeter) -> None:
        if meter._server is not None:
            meter._server.close()
            meter._server = None
        elif meter._sock is not None:
            meter._sock.close()
        meter._sock = None
        for connection in [c for c in self.connections if c.meter is meter]:
            if connection.transport is not None:
                connection.transport.abort()

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        for meter in self.meters:
            if meter._server is not None:
                meter._server.close()
                meter._server = None
            elif meter._sock is not None:
                meter._sock.close()
            meter._sock = None
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.abort()
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    def summary(self) -> str:
        """One line: which meters, where, how many listen."""
        listening = sum(1 for m in self.meters if m.listening)
        return summary_line(self.config, self.indices, self.listings(), listening)


def summary_line(
    config: FleetConfig, indices: range, listings: Iterable[MeterListing], listening: int
) -> str:
    listings = list(listings)
    if not listings:
        return f"pid {os.getpid()}: no meters"
    first, last = listings[0], listings[-1]
    if first.host == last.host:
        where = f"{first.host} ports {first.port}-{last.port}"
    else:
        ports = sorted({item.port for item in listings})
        port_text = str(ports[0]) if len(ports) == 1 else f"{ports[0]}-{ports[-1]}"
        where = f"{first.host}-{last.host} port {port_text}"
    offline = len(listings) - listening
    return (
        f"pid {os.getpid()}: meters {indices.start}-{indices.stop - 1} on {where}: "
        f"{listening} listening, {offline} offline"
    )
