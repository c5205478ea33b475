"""The asyncio EMOP client: exact framing, timeouts, bounded retries and per-meter spacing.

Real meters need one request at a time and a gap (2 s) between the end of one exchange and the
next request; they also drop connections and send short frames. The client therefore keeps one
channel per meter (a lock, the time of its last exchange, a sequence counter), reads whole frames
whatever the socket returns, checks every response against its request, and retries only what
may succeed on a resend. Before a meter's answers are used or anything is written to it, the
serial it reports must be the registry's. Fleet reads run under a global limit of meters in
progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from . import data
from . import objects as o
from .connection_slots import ConnectionSlots, LocalConnectionSlots, MeterQueue
from .errors import (
    AckNak,
    ConnectionRefusedByMeter,
    DecodeError,
    EmopError,
    IdentityMismatchError,
    IdentityUnconfirmedError,
    MeterConnectionError,
    MeterTimeoutError,
    MeterUnreachableError,
    NakError,
    TooManyNaksError,
    UnexpectedResponseError,
)
from .frame import MAX_GARBAGE_BYTES, Frame, FrameScanner, decode_frame
from .state import MeterEndpoint, MeterState
from .tariffs import (
    ACTIVE_TARIFF_OBJECTS,
    FUTURE_TARIFF_OBJECTS,
    Tariff,
    activation_from_emop_seconds,
    future_tariff_writes,
)
from .values import encode_time_record

DEFAULT_SOURCE_ADDRESS = 0x0021AE42
PROFILE_INTERVAL = timedelta(minutes=30)

T = TypeVar("T")

#: The objects read_state reads, in the order it reads them.
STATE_OBJECTS: tuple[o.EmopObject, ...] = (
    o.SERIAL, o.HARDWARE, o.FIRMWARE, o.CSQ, o.VOLTAGE, o.ELEMENT_A, o.ELEMENT_B,
    o.PREPAY_BALANCE, o.PREPAY_ENABLED, o.DST_FLAG, o.CLOCK,
    *ACTIVE_TARIFF_OBJECTS.values(), *FUTURE_TARIFF_OBJECTS.values(),
)  # fmt: skip

#: NAKs that say the meter could not take the frame at all (as opposed to an answer about the
#: object asked for: unknown object, access denied, payload too large). Only these count toward
#: the budget of consecutive NAKs: they recur on every request to a meter in that state.
FRAME_NAKS = frozenset(
    {AckNak.CRC_ERROR, AckNak.FORMAT_ERROR, AckNak.LENGTH_INCORRECT, AckNak.ADDRESS_INCORRECT}
)
_SERIAL_READ = data.DefaultRecord(o.SERIAL.object_id).encode()


def setting(default: Any, doc: str) -> Any:
    """A settings field with what it does, for the places that describe settings to operators."""
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class ClientSettings:
    """How the client treats meters. The defaults suit real meters on a cellular network.

    Each field's `doc` is what an operator reads about it (the FLOWS_EMOP_* settings and the
    Dagster resource that carries them are built from these fields)."""

    timeout_seconds: float = setting(10.0, "Limit for one exchange: connect, send and answer.")
    attempts: int = setting(3, "Tries per request, the first included.")
    backoff_base_seconds: float = setting(1.0, "First wait before a retry.")
    backoff_max_seconds: float = setting(8.0, "Longest wait before a retry.")
    backoff_jitter: float = setting(
        0.5, "Each wait is scaled by a random factor in [1 - jitter, 1 + jitter]."
    )
    min_gap_seconds: float = setting(
        2.0, "Gap between the end of one exchange with a meter and the next (real meters: 2 s)."
    )
    max_concurrent_meters: int = setting(500, "Meters read at the same time in a fleet read.")
    # A meter that NAKs everything would otherwise cost attempts x objects exchanges; only frame
    # NAKs (FRAME_NAKS) count, and a successful answer resets the count.
    max_consecutive_naks: int = setting(
        6, "NAKs about the frame in a row after which a meter is given up for this read."
    )
    # The reference client opens a connection per request, which is proven on real meters.
    reuse_connections: bool = setting(
        False, "One TCP connection per meter for a whole read instead of one per request."
    )
    source_address: int = setting(
        DEFAULT_SOURCE_ADDRESS, "EMOP source address this client sends from."
    )

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.timeout_seconds <= 0 or self.min_gap_seconds < 0:
            raise ValueError("timeout must be positive and the gap not negative")
        if self.max_concurrent_meters < 1:
            raise ValueError("max_concurrent_meters must be at least 1")
        if self.max_consecutive_naks < 1:
            raise ValueError("max_consecutive_naks must be at least 1")

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Wait before retry number `attempt` (1 = the first retry): exponential, capped,
        jittered so a fleet of failing meters does not retry in lockstep."""
        base = min(self.backoff_max_seconds, self.backoff_base_seconds * 2 ** (attempt - 1))
        return base * rng.uniform(1 - self.backoff_jitter, 1 + self.backoff_jitter)


@dataclass(frozen=True)
class Exchange:
    """One answered request: the checked response, when the request's bytes went out (on the
    attempt that was answered) and when the whole response had arrived."""

    frame: Frame
    sent_at: datetime
    received_at: datetime


@dataclass
class _Channel:
    """Per-meter state: one request in flight, spacing, sequence numbers, an open connection,
    the serial the meter reported and the NAKs it sent in a row. It lives for one conversation:
    until the client drops it (after a meter's fleet read, or at close)."""

    meter: MeterEndpoint
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_exchange_end: float | None = None
    sequence: int = 0
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    #: Whether the current attempt has started writing its request to the socket.
    request_sent: bool = False
    #: The serial the meter reported on this channel (padding stripped), once read.
    reported_serial: str | None = None
    #: Answers in a row that were NAKs about the frame (FRAME_NAKS).
    consecutive_naks: int = 0

    def next_sequence(self) -> int:
        self.sequence = (self.sequence + 1) % 8
        return self.sequence

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class EmopClient:
    """Talks EMOP to meters. Use as `async with EmopClient(settings) as client:`."""

    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        slots: ConnectionSlots | None = None,
    ) -> None:
        self.settings = settings or ClientSettings()
        #: Caps on simultaneous connections per group of meters, shared with other readers.
        self._slots = slots or LocalConnectionSlots({})
        self._channels: dict[tuple[str, int], _Channel] = {}
        self._rng = rng or random.Random()
        self._now = clock

    async def __aenter__(self) -> EmopClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()

    # ------------------------------------------------------------ single objects

    async def read(self, meter: MeterEndpoint, obj: o.EmopObject) -> Any:
        """Read one object and decode its value."""
        value, _ = await self._read_timed(meter, obj)
        return value

    async def write(self, meter: MeterEndpoint, obj: o.EmopObject, payload: bytes) -> None:
        """Write an encoded value to one object; returns when the meter acknowledged it."""
        request = data.DefaultRecord(obj.object_id, write=True, payload=payload)
        await self._default_exchange(meter, obj, request)

    async def read_clock(self, meter: MeterEndpoint) -> tuple[datetime, int]:
        """The meter's clock and its signed drift against this machine, in whole seconds."""
        meter_time, exchange = await self._read_timed(meter, o.CLOCK)
        return meter_time, exchange_drift_seconds(meter_time, exchange)

    async def write_clock(self, meter: MeterEndpoint, moment: datetime | None = None) -> None:
        await self.write(meter, o.CLOCK, encode_time_record(moment or self._now()))

    async def send_token(self, meter: MeterEndpoint, token: str) -> None:
        """Write a top-up token exactly once: no resend here, whatever happens.

        A lost answer leaves the outcome unknown, so resending is the caller's decision. A
        failure's `request_sent` is False only when no byte of the request left this machine
        (the connection could not even be made, or the meter's identity was not confirmed:
        IdentityMismatchError, IdentityUnconfirmedError), which makes a later resend safe."""
        obj = o.PREPAY_TOKEN
        request = data.DefaultRecord(obj.object_id, write=True, payload=obj.encode(token))
        await self._default_exchange(meter, obj, request, attempts=1)

    async def write_future_tariff(self, meter: MeterEndpoint, tariff: Tariff) -> None:
        for obj, payload in future_tariff_writes(tariff):
            await self.write(meter, obj, payload)

    async def read_tariff(self, meter: MeterEndpoint, *, future: bool) -> Tariff | None:
        """A tariff set; None for a future set with no activation time (nothing scheduled)."""
        state = MeterState(meter=meter, polled_at=self._now())
        try:
            await self._read_tariff_into(state, meter, future=future)
        except _Stopped as stopped:
            raise stopped.cause from None
        if state.errors:
            raise next(iter(state.errors.values()))
        return state.tariffs_future if future else state.tariffs_active

    # ------------------------------------------------------------ logs

    async def read_profile_log(
        self, meter: MeterEndpoint, log: int, start: datetime, *, twin_element: bool
    ) -> list[data.ProfileRecord]:
        """One block of profile-log records at or after `start` (up to 5 for log 1)."""
        request = data.ProfileLogRequest(log=log, start=start)
        name = f"profile_log_{log}"
        frame = (await self._exchange(meter, name, request.encode())).frame
        try:
            response = data.decode_profile_log_response(frame.data)
            if response.log != log or response.echo != request.encode()[1:]:
                raise UnexpectedResponseError(
                    "profile-log response does not echo the request", received=frame.data
                )
            return response.records(twin_element=twin_element)
        except EmopError as error:
            raise error.with_context(meter=meter.label, object_name=name) from None

    async def read_profile_range(
        self,
        meter: MeterEndpoint,
        log: int,
        start: datetime,
        end: datetime,
        *,
        twin_element: bool,
    ) -> list[data.ProfileRecord]:
        """Every record with start <= timestamp < end, block by block.

        A meter with nothing at the requested time answers with its next records, however far
        ahead, so the walk stops at the first record at or past `end`, or at an empty block."""
        records: list[data.ProfileRecord] = []
        cursor = start
        while cursor < end:
            block = await self.read_profile_log(meter, log, cursor, twin_element=twin_element)
            fresh = [record for record in block if record.timestamp >= cursor]
            records += [record for record in fresh if record.timestamp < end]
            if not fresh or fresh[-1].timestamp >= end:
                break
            cursor = fresh[-1].timestamp + PROFILE_INTERVAL
        return records

    async def read_events_since(
        self, meter: MeterEndpoint, since: datetime
    ) -> list[data.EventLogEntry]:
        """Event-log entries at or after `since`, newest first, reading pages until older ones."""
        entries: list[data.EventLogEntry] = []
        for page in range(data.EVENT_PAGES):
            page_entries = await self.read_event_log_page(meter, page)
            entries += [entry for entry in page_entries if entry.timestamp >= since]
            if not page_entries or page_entries[-1].timestamp < since:
                break
        return entries

    async def read_event_log_page(
        self, meter: MeterEndpoint, page: int
    ) -> tuple[data.EventLogEntry, ...]:
        name = f"event_log page {page}"
        frame = (await self._exchange(meter, name, data.EventLogRequest(page).encode())).frame
        try:
            response = data.decode_event_log_response(frame.data)
        except EmopError as error:
            raise error.with_context(meter=meter.label, object_name=name) from None
        return response.entries

    # ------------------------------------------------------------ the whole state

    async def read_state(self, meter: MeterEndpoint) -> MeterState:
        """Everything the pipeline reads from a meter. Never raises for a meter's fault:
        each value that could not be read is None with its error in `errors`, each value read
        has its object in `read_ok`. The remaining reads are not tried once the meter cannot be
        reached at all, is given up for its NAKs, or its serial is not the registered one (or
        cannot be read): then no value at all is kept."""
        state = MeterState(meter=meter, polled_at=self._now())
        # The budget of NAKs is per read: an earlier read's NAKs on this channel do not count.
        self._channel(meter).consecutive_naks = 0
        reads: list[tuple[o.EmopObject, Callable[[Any], None]]] = [
            (o.SERIAL, lambda value: setattr(state, "serial", value)),
            (o.HARDWARE, lambda value: setattr(state, "hardware", value)),
            (o.FIRMWARE, lambda value: setattr(state, "firmware", value)),
            (o.CSQ, lambda value: _set_csq(state, value)),
            (o.VOLTAGE, lambda value: setattr(state, "voltage", value)),
            (o.ELEMENT_A, lambda value: setattr(state, "element_a", value)),
            (o.ELEMENT_B, lambda value: setattr(state, "element_b", value)),
            (o.PREPAY_BALANCE, lambda value: setattr(state, "prepay_balance", value)),
            (o.PREPAY_ENABLED, lambda value: setattr(state, "prepay_enabled", value)),
            (o.DST_FLAG, lambda value: setattr(state, "dst_enabled", value)),
        ]
        try:
            for obj, store in reads:
                store(await self._read_for_state(state, meter, obj))
            await self._read_clock_into(state, meter)
            await self._read_tariff_into(state, meter, future=False)
            await self._read_tariff_into(state, meter, future=True)
        except _Stopped as stopped:
            self._mark_rest_not_read(state, stopped)
        state.finished_at = self._now()
        return state

    async def read_fleet(
        self,
        meters: Iterable[MeterEndpoint],
        on_state: Callable[[MeterState], None] | None = None,
        group_of: Callable[[MeterEndpoint], str | None] | None = None,
    ) -> list[MeterState]:
        """read_state for many meters, at most `max_concurrent_meters` at a time (and within
        the client's connection slots of each meter's group); the result is in the order of
        `meters`, and `on_state` sees each snapshot as it completes."""
        meters = list(meters)
        by_meter: dict[MeterEndpoint, MeterState] = {}
        async for state in self.iter_fleet(meters, group_of):
            by_meter[state.meter] = state
            if on_state is not None:
                on_state(state)
        return [by_meter[meter] for meter in dict.fromkeys(meters) if meter in by_meter]

    async def iter_fleet(
        self,
        meters: Iterable[MeterEndpoint],
        group_of: Callable[[MeterEndpoint], str | None] | None = None,
    ) -> AsyncIterator[MeterState]:
        """read_state for many meters, yielding each snapshot as soon as it is complete."""
        pending = list(dict.fromkeys(meters))
        done: asyncio.Queue[MeterState | BaseException] = asyncio.Queue()

        async def read(meter: MeterEndpoint) -> None:
            try:
                await done.put(await self.read_state(meter))
            except Exception as error:  # a bug, not a meter fault: surface it
                await done.put(error)

        async with self._working(pending, group_of, read) as workers:
            # Workers that stop early (their connection slots failed) must not leave this
            # waiting for meters nobody reads: their error comes through `done` too.
            workers.add_done_callback(functools.partial(_pass_on_error, done))
            for _ in pending:
                result = await done.get()
                if isinstance(result, BaseException):
                    raise result
                yield result
            # The last meters' workers are still closing connections and giving back slots.
            await workers

    async def for_each_meter(
        self,
        meters: Iterable[MeterEndpoint],
        read: Callable[[MeterEndpoint], Awaitable[T]],
        group_of: Callable[[MeterEndpoint], str | None] | None = None,
    ) -> list[tuple[MeterEndpoint, T | EmopError]]:
        """Run `read` on every meter, at most `max_concurrent_meters` at a time (and within
        the client's connection slots of each meter's group). A meter's EmopError is returned
        in place of its result, so one meter never stops the rest."""
        pending = list(dict.fromkeys(meters))
        results: dict[MeterEndpoint, T | EmopError] = {}

        async def one(meter: MeterEndpoint) -> None:
            try:
                results[meter] = await read(meter)
            except EmopError as error:
                results[meter] = error

        async with self._working(pending, group_of, one) as workers:
            await workers
        return [(meter, results[meter]) for meter in pending]

    @asynccontextmanager
    async def _working(
        self,
        meters: list[MeterEndpoint],
        group_of: Callable[[MeterEndpoint], str | None] | None,
        work: Callable[[MeterEndpoint], Awaitable[None]],
    ) -> AsyncIterator[asyncio.Future[Any]]:
        """Workers (at most `max_concurrent_meters`) that run `work` on every meter, each
        meter holding a connection slot of its group meanwhile; they are stopped on exit."""
        queue = MeterQueue(meters, group_of or _no_group, self._slots)
        workers = min(self.settings.max_concurrent_meters, len(meters))
        # Spread the workers' first requests over one request gap: started together they
        # would hit the meters (and this loop) in one burst per gap for the whole read.
        ramp = self.settings.min_gap_seconds / max(workers, 1)

        async def worker(number: int) -> None:
            await asyncio.sleep(number * ramp)
            while (item := await queue.next()) is not None:
                meter, slot = item
                try:
                    await work(meter)
                finally:
                    # The slot goes on even when the read is stopped while the connection closes.
                    try:
                        await self._forget(meter)
                    finally:
                        await queue.finished(slot)

        tasks = [asyncio.ensure_future(worker(number)) for number in range(workers)]
        all_done = asyncio.gather(*tasks)
        try:
            yield all_done
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if all_done.done() and not all_done.cancelled():
                all_done.exception()  # already raised to the caller, or nobody waited for it
            await queue.give_back_unused()

    # ------------------------------------------------------------ internals

    async def _read_for_state(
        self, state: MeterState, meter: MeterEndpoint, obj: o.EmopObject
    ) -> Any:
        value, _ = await self._read_timed_for_state(state, meter, obj)
        return value

    async def _read_timed_for_state(
        self, state: MeterState, meter: MeterEndpoint, obj: o.EmopObject
    ) -> tuple[Any, Exchange | None]:
        """One object of read_state: its value and exchange, or (None, None) with the error
        recorded; raises _Stopped when the rest of the meter must not be read."""
        try:
            value, exchange = await self._read_timed(meter, obj)
        except (IdentityMismatchError, IdentityUnconfirmedError, TooManyNaksError) as error:
            state.errors[obj.name] = error
            raise _Stopped(obj, error, error.message) from None
        except (NakError, DecodeError) as error:
            state.errors[obj.name] = error
            if obj is o.SERIAL and registered_serial(meter) is not None:
                # Without the meter's serial nothing else it says can be trusted to be its own.
                reason = f"the meter's identity is not confirmed: its serial read {error.kind}"
                raise _Stopped(obj, error, reason) from None
            # This object alone is at fault; the meter still answers the rest.
            return None, None
        except EmopError as error:
            state.errors[obj.name] = error
            raise _Stopped(obj, error, f"the meter already failed with {error.kind}") from None
        state.read_ok.append(obj.name)
        return value, exchange

    async def _read_clock_into(self, state: MeterState, meter: MeterEndpoint) -> None:
        meter_time, exchange = await self._read_timed_for_state(state, meter, o.CLOCK)
        if exchange is not None:
            state.clock = meter_time
            state.clock_time_diff_seconds = exchange_drift_seconds(meter_time, exchange)

    async def _read_tariff_into(
        self, state: MeterState, meter: MeterEndpoint, *, future: bool
    ) -> None:
        objects = FUTURE_TARIFF_OBJECTS if future else ACTIVE_TARIFF_OBJECTS
        values = {
            name: await self._read_for_state(state, meter, obj) for name, obj in objects.items()
        }
        if any(value is None for value in values.values()):
            return
        if future:
            if values["activation_datetime"] == 0:
                return  # nothing scheduled
            values["activation_datetime"] = activation_from_emop_seconds(
                values["activation_datetime"]
            )
        tariff = Tariff(**values)
        if future:
            state.tariffs_future = tariff
        else:
            state.tariffs_active = tariff

    def _mark_rest_not_read(self, state: MeterState, stopped: _Stopped) -> None:
        """Every object after the one that stopped the read was not tried: say why."""
        position = STATE_OBJECTS.index(stopped.obj)
        for obj in STATE_OBJECTS[position + 1 :]:
            state.errors[obj.name] = MeterUnreachableError(
                f"not read: {stopped.reason}", meter=state.meter.label, object_name=obj.name
            )

    async def _read_timed(self, meter: MeterEndpoint, obj: o.EmopObject) -> tuple[Any, Exchange]:
        """Read one object: its decoded value and the exchange that carried it."""
        exchange = await self._exchange(meter, obj.name, data.DefaultRecord(obj.object_id).encode())
        record = _default_record(meter, obj, exchange.frame)
        try:
            return obj.decode(record.payload), exchange
        except DecodeError as error:
            raise error.with_context(meter=meter.label, object_name=obj.name) from None

    async def _default_exchange(
        self,
        meter: MeterEndpoint,
        obj: o.EmopObject,
        request: data.DefaultRecord,
        *,
        attempts: int | None = None,
    ) -> data.DefaultRecord:
        exchange = await self._exchange(meter, obj.name, request.encode(), attempts=attempts)
        return _default_record(meter, obj, exchange.frame)

    def _channel(self, meter: MeterEndpoint) -> _Channel:
        key = (meter.host, meter.port)
        channel = self._channels.get(key)
        if channel is None:
            channel = self._channels[key] = _Channel(meter)
        return channel

    async def _forget(self, meter: MeterEndpoint) -> None:
        """Drop a meter's channel after its fleet read (keeps memory flat over big fleets),
        its connection closed before the meter's connection slot goes to another meter.

        Its last exchange time goes with it, so a second read of the same meter in the same
        client should come through read_state directly, which keeps the channel."""
        channel = self._channels.pop((meter.host, meter.port), None)
        if channel is not None:
            writer = channel.writer
            channel.close()
            if writer is not None:
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    async def _exchange(
        self,
        meter: MeterEndpoint,
        object_name: str,
        request: bytes,
        *,
        attempts: int | None = None,
    ) -> Exchange:
        """Send one request and return its checked answer, with retries and spacing.

        On a meter with a registered serial the request goes out only once the serial the meter
        reports on this channel is that one (read first if need be, and checked as it comes in
        when the request is the serial read itself)."""
        channel = self._channel(meter)
        async with channel.lock:
            serial_read = request == _SERIAL_READ
            if registered_serial(meter) is not None and not serial_read:
                await self._confirm_identity(channel, meter, object_name)
            exchange = await self._attempts(channel, meter, object_name, request, attempts)
            if serial_read:
                channel.reported_serial = _reported_serial(meter, exchange.frame)
                _check_identity(channel, meter, object_name)
            return exchange

    async def _confirm_identity(
        self, channel: _Channel, meter: MeterEndpoint, object_name: str
    ) -> None:
        """Raise unless the meter on this channel reports the registered serial, reading it
        once per channel (a reconnect on the same channel does not read it again)."""
        if channel.reported_serial is None:
            try:
                exchange = await self._attempts(channel, meter, o.SERIAL.name, _SERIAL_READ, None)
                channel.reported_serial = _reported_serial(meter, exchange.frame)
            except EmopError as error:
                raise IdentityUnconfirmedError(
                    error, meter=meter.label, object_name=object_name
                ) from None
        _check_identity(channel, meter, object_name)

    async def _attempts(
        self,
        channel: _Channel,
        meter: MeterEndpoint,
        object_name: str,
        request: bytes,
        attempts: int | None,
    ) -> Exchange:
        """The request, tried until answered, a failure that no resend can cure, or the last
        attempt; counts the meter's NAKs about the frame against the budget."""
        settings = self.settings
        attempts = attempts or settings.attempts
        for attempt in range(1, attempts + 1):
            await _wait_gap(channel, settings.min_gap_seconds)
            channel.request_sent = False
            # Owned here so that what did arrive is still known when the time limit strikes.
            scanner = FrameScanner(answering=settings.source_address)
            try:
                async with asyncio.timeout(settings.timeout_seconds):
                    exchange = await self._send_receive(channel, request, scanner)
                channel.consecutive_naks = 0
                return exchange
            except TimeoutError:
                error: EmopError = MeterTimeoutError(
                    f"no complete answer within {settings.timeout_seconds:g} s{scanner.note()}",
                    received=bytes(scanner.received),
                )
            except EmopError as raised:
                error = self._count_nak(channel, raised)
            finally:
                channel.last_exchange_end = time.monotonic()
            channel.close()
            error.with_context(meter=meter.label, object_name=object_name)
            error.request_sent = channel.request_sent
            if not error.retryable or attempt == attempts:
                raise error
            await asyncio.sleep(settings.backoff(attempt, self._rng))
        raise AssertionError("unreachable")  # pragma: no cover

    def _count_nak(self, channel: _Channel, error: EmopError) -> EmopError:
        """The error to go on with: a NAK about the frame that spends the budget becomes the
        meter given up."""
        if not isinstance(error, NakError) or error.code not in FRAME_NAKS:
            return error
        channel.consecutive_naks += 1
        if channel.consecutive_naks < self.settings.max_consecutive_naks:
            return error
        return TooManyNaksError(channel.consecutive_naks, error.code, received=error.received)

    async def _send_receive(
        self, channel: _Channel, request: bytes, scanner: FrameScanner
    ) -> Exchange:
        if channel.writer is None or channel.writer.is_closing():
            channel.reader, channel.writer = await _connect(channel.meter)
        assert channel.reader is not None and channel.writer is not None
        sequence = channel.next_sequence()
        frame = Frame(
            destination=0, source=self.settings.source_address, sequence=sequence, data=request
        )
        try:
            channel.request_sent = True
            sent_at = self._now()
            channel.writer.write(frame.encode())
            await channel.writer.drain()
            raw = await read_frame_bytes(channel.reader, scanner)
            received_at = self._now()
        except (ConnectionError, OSError) as error:
            raise MeterConnectionError(
                f"connection failed: {error}", received=bytes(scanner.received) or None
            ) from None
        finally:
            if not self.settings.reuse_connections:
                channel.close()
        response = decode_frame(raw)
        if response.sequence != sequence or response.destination != self.settings.source_address:
            raise UnexpectedResponseError(
                f"response (sequence {response.sequence}, to {response.destination:08X}) does not "
                f"answer request (sequence {sequence}, from {self.settings.source_address:08X})",
                received=raw,
            )
        if response.ack_nak:
            raise NakError(response.ack_nak, received=raw)
        if response.data[:1] != request[:1]:
            raise UnexpectedResponseError("response is in another record format", received=raw)
        return Exchange(response, sent_at, received_at)


class _Stopped(Exception):
    """The read of a meter ends at `obj`, for `reason` (said in every object not read)."""

    def __init__(self, obj: o.EmopObject, cause: EmopError, reason: str) -> None:
        self.obj = obj
        self.cause = cause
        self.reason = reason


def registered_serial(meter: MeterEndpoint) -> str | None:
    """The serial the registry gives a meter, padding stripped; None when it gives none."""
    serial = (meter.serial or "").strip("\x00 ")
    return serial or None


def _default_record(meter: MeterEndpoint, obj: o.EmopObject, frame: Frame) -> data.DefaultRecord:
    """The default-format record of a response, checked to be about `obj`."""
    try:
        record = data.decode_default(frame.data)
        if record.object_id != obj.object_id:
            raise UnexpectedResponseError(
                f"response is for object {record.object_id:06X}", received=frame.data
            )
    except EmopError as error:
        raise error.with_context(meter=meter.label, object_name=obj.name) from None
    return record


def _reported_serial(meter: MeterEndpoint, frame: Frame) -> str:
    """The serial in a serial read's response (padding stripped by the decoder)."""
    record = _default_record(meter, o.SERIAL, frame)
    try:
        return str(o.SERIAL.decode(record.payload))
    except DecodeError as error:
        raise error.with_context(meter=meter.label, object_name=o.SERIAL.name) from None


def _check_identity(channel: _Channel, meter: MeterEndpoint, object_name: str) -> None:
    registered = registered_serial(meter)
    reported = channel.reported_serial
    if registered is not None and reported is not None and reported != registered:
        raise IdentityMismatchError(
            registered,
            reported,
            f"{meter.host}:{meter.port}",
            meter=meter.label,
            object_name=object_name,
        )


def _set_csq(state: MeterState, value: Any) -> None:
    if value is not None:
        state.csq, state.csq_operator = value.csq, value.operator


async def _wait_gap(channel: _Channel, gap: float) -> None:
    if channel.last_exchange_end is None or gap <= 0:
        return
    remaining = channel.last_exchange_end + gap - time.monotonic()
    if remaining > 0:
        await asyncio.sleep(remaining)


async def _connect(meter: MeterEndpoint) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await asyncio.open_connection(meter.host, meter.port)
    except ConnectionRefusedError:
        raise ConnectionRefusedByMeter("connection refused") from None
    except OSError as error:
        raise MeterConnectionError(f"cannot connect: {error}") from None


async def read_frame_bytes(
    reader: asyncio.StreamReader, scanner: FrameScanner | None = None
) -> bytes:
    """Read exactly one frame, whatever sizes the socket delivers it in.

    Noise before the frame is skipped, a 0x7E in it included (a false start is dropped and the
    scan goes on from the next 0x7E, within MAX_GARBAGE_BYTES); no byte after the frame is
    taken. A connection closed mid-frame is a MeterConnectionError carrying what did arrive.
    Pass a scanner to keep the bytes received when the read is cut short by a time limit."""
    scanner = scanner or FrameScanner(max_garbage=MAX_GARBAGE_BYTES)
    while True:
        chunk = await reader.read(scanner.wanted())
        if not chunk:
            raise scanner.closed_error()
        frame = scanner.feed(chunk)
        if frame is not None:
            return frame


def clock_drift_seconds(meter_time: datetime, sent: datetime, received: datetime) -> int:
    """Meter clock minus server time, signed, in whole seconds (days included).

    The meter read its clock somewhere between our send and receipt, so the midpoint is the
    best estimate; its clock has one-second resolution and truncates, hence the half second.
    """
    midpoint = sent + (received - sent) / 2
    return round((meter_time + timedelta(seconds=0.5) - midpoint).total_seconds())


def exchange_drift_seconds(meter_time: datetime, exchange: Exchange) -> int:
    """Drift measured at the exchange that carried the clock: from when its request went out to
    when its answer was whole, not counting the wait for the request gap or earlier attempts."""
    return clock_drift_seconds(meter_time, exchange.sent_at, exchange.received_at)


def _pass_on_error(to: asyncio.Queue[Any], workers: asyncio.Future[Any]) -> None:
    if not workers.cancelled() and workers.exception() is not None:
        to.put_nowait(workers.exception())


def _no_group(meter: MeterEndpoint) -> None:
    return None
