"""Simulated meters over real loopback TCP, read with bare asyncio sockets and the frame codec."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from dagster_project.emop import objects as o
from dagster_project.emop.crc import crc16_ccitt_false
from dagster_project.emop.data import (
    EventLogRequest,
    ProfileLogRequest,
    decode_default,
    decode_event_log_response,
    decode_profile_log_response,
)
from dagster_project.emop.errors import CrcError
from dagster_project.emop.frame import decode_frame
from dagster_project.simulator import FleetConfig, SimMeter, SimulatedFleet
from tests.support.wire import (
    drift_from,
    exchange,
    frame_request,
    now,
    read_frame_bytes,
    read_request,
)

FAULTS = {
    1: "offline",
    2: "silent",
    3: "slow",
    4: "truncated",
    5: "bad_crc",
    6: "nak",
    7: "garbage",
    8: "too_soon",
}


def config(**overrides: object) -> FleetConfig:
    settings: dict[str, object] = {
        "meters": 10,
        "seed": 21,
        "freeze_model": True,
        "port": 0,  # the OS picks a free port per meter address
        "faults": FAULTS,
        "slow_seconds": 1.0,
        "too_soon_gap_seconds": 0.6,
    }
    settings.update(overrides)
    return FleetConfig(**settings)  # type: ignore[arg-type]


def serve(
    body: Callable[[SimulatedFleet], Awaitable[None]], fleet_config: FleetConfig | None = None
) -> None:
    async def main() -> None:
        async with SimulatedFleet(fleet_config or config()) as fleet:
            await asyncio.wait_for(body(fleet), 20)

    asyncio.run(main())


async def value(meter: SimMeter, obj: o.EmopObject):  # type: ignore[no-untyped-def]
    reply = await exchange(meter.host, meter.port, read_request(obj))
    assert reply.ack_nak == 0, obj
    return obj.decode(decode_default(reply.data).payload)


# ---------------------------------------------------------------- healthy meters


def test_reads_over_tcp_match_the_ground_truth() -> None:
    async def body(fleet: SimulatedFleet) -> None:
        for meter in (fleet.meter(0), fleet.meter(9)):
            truth = meter.ground_truth()
            assert await value(meter, o.SERIAL) == truth.serial
            assert await value(meter, o.HARDWARE) == truth.hardware
            assert await value(meter, o.FIRMWARE) == truth.firmware
            assert await value(meter, o.PREPAY_BALANCE) == truth.prepay_balance
            assert await value(meter, o.ELEMENT_A) == truth.element_a
            assert await value(meter, o.ELEMENT_B) == truth.element_b
            assert await value(meter, o.VOLTAGE) == truth.voltage
            assert await value(meter, o.ACTIVE_STANDING_CHARGE) == (
                truth.tariffs_active.standing_charge
            )
            signal = await value(meter, o.CSQ)
            assert (signal.csq, signal.operator) == (truth.csq, truth.csq_operator)
            sent = now()
            clock = await value(meter, o.CLOCK)
            drift = drift_from(clock, sent, now())
            assert abs(drift - truth.clock_time_diff_seconds) <= 1.0

    serve(body)


def test_several_requests_share_one_connection() -> None:
    async def body(fleet: SimulatedFleet) -> None:
        meter = fleet.meter(0)
        reader, writer = await asyncio.open_connection(meter.host, meter.port)
        objects = (o.SERIAL, o.PREPAY_BALANCE, o.CSQ, o.ELEMENT_A)
        for sequence, obj in enumerate(objects):
            writer.write(read_request(obj, sequence))
            _, raw = await read_frame_bytes(reader)
            reply = decode_frame(raw)
            assert reply.sequence == sequence and reply.ack_nak == 0
            assert decode_default(reply.data).object_id == obj.object_id
        # two requests in one write are answered in order
        writer.write(read_request(o.SERIAL, 6) + read_request(o.VOLTAGE, 7))
        first = decode_frame((await read_frame_bytes(reader))[1])
        second = decode_frame((await read_frame_bytes(reader))[1])
        assert (first.sequence, second.sequence) == (6, 7)
        writer.close()

    serve(body)


def test_profile_and_event_logs_over_tcp() -> None:
    async def body(fleet: SimulatedFleet) -> None:
        meter = fleet.meter(0)
        start = fleet.model_time.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
        request = frame_request(ProfileLogRequest(1, start).encode())
        reply = await exchange(meter.host, meter.port, request)
        assert reply.length == 0x61
        records = decode_profile_log_response(reply.data).records()
        assert [r.timestamp for r in records] == [
            start + timedelta(minutes=30 * n) for n in range(5)
        ]
        page = await exchange(meter.host, meter.port, frame_request(EventLogRequest(0).encode()))
        assert page.length == 0x4D
        entries = decode_event_log_response(page.data).entries
        assert entries and [e.timestamp for e in entries] == sorted(
            (e.timestamp for e in entries), reverse=True
        )

    serve(body)


def test_client_frame_errors_get_naks_and_leading_noise_is_skipped() -> None:
    async def body(fleet: SimulatedFleet) -> None:
        meter = fleet.meter(0)
        good = read_request(o.SERIAL)
        corrupt = good[:-1] + bytes([good[-1] ^ 0xFF])
        assert (await exchange(meter.host, meter.port, corrupt)).ack_nak == 1
        header = bytes.fromhex("000000000021ae42050160")  # L = 14: under the minimum 17
        body_bytes = bytes([0x7E, len(header) + 3]) + header
        short = body_bytes + crc16_ccitt_false(body_bytes[1:]).to_bytes(2, "big")
        assert (await exchange(meter.host, meter.port, short)).ack_nak == 3
        noisy = await exchange(meter.host, meter.port, b"AT+OK\r\n" + good)
        assert noisy.ack_nak == 0

    serve(body)


def test_a_meter_serves_one_connection_at_a_time() -> None:
    async def body(fleet: SimulatedFleet) -> None:
        meter = fleet.meter(0)
        _, first_writer = await asyncio.open_connection(meter.host, meter.port)
        reader, writer = await asyncio.open_connection(meter.host, meter.port)
        writer.write(read_request(o.SERIAL))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(read_frame_bytes(reader), 0.3)
        first_writer.close()
        _, raw = await asyncio.wait_for(read_frame_bytes(reader), 2)
        assert decode_frame(raw).ack_nak == 0
        writer.close()

    serve(body)


def test_fleet_latency_delays_every_response() -> None:
    async def body(fleet: SimulatedFleet) -> None:
        started = time.monotonic()
        await value(fleet.meter(0), o.SERIAL)
        assert time.monotonic() - started >= 0.3

    serve(body, config(latency_seconds=0.3))


# ---------------------------------------------------------------- faults, as the client sees them


def test_offline_meter_refuses_the_connection() -> None:
    async def body(fleet: SimulatedFleet) -> None:
        meter = fleet.meter(1)
        assert meter.fault == "offline"
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(meter.host, meter.port)

    serve(body)


def test_offline_can_be_switched_on_and_off_while_serving() -> None:
    async def body(fleet: SimulatedFleet) -> None:
        await fleet.set_fault(1, None)
        assert await value(fleet.meter(1), o.SERIAL) == fleet.meter(1).serial
        await fleet.set_fault(0, "offline")
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(fleet.meter(0).host, fleet.meter(0).port)

    serve(body)


def test_silent_meter_accepts_but_never_answers() -> None:
    async def body(fleet: SimulatedFleet) -> None:
        meter = fleet.meter(2)
        reader, writer = await asyncio.open_connection(meter.host, meter.port)
        writer.write(read_request(o.SERIAL))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), 0.5)
        writer.close()

    serve(body)


def test_slow_meter_answers_late() -> None:
    async def body(fleet: SimulatedFleet) -> None:
        meter = fleet.meter(3)
        with pytest.raises(TimeoutError):
            await exchange(meter.host, meter.port, read_request(o.SERIAL), timeout=0.5)
        started = time.monotonic()
        reply = await exchange(meter.host, meter.port, read_request(o.SERIAL), timeout=3)
        assert reply.ack_nak == 0
        assert time.monotonic() - started >= 1.0

    serve(body)


def test_truncated_meter_sends_part_of_the_frame_then_closes() -> None:
    async def body(fleet: SimulatedFleet) -> None:
        meter = fleet.meter(4)
        reader, writer = await asyncio.open_connection(meter.host, meter.port)
        writer.write(read_request(o.SERIAL))
        with pytest.raises(asyncio.IncompleteReadError) as short:
            await asyncio.wait_for(read_frame_bytes(reader), 2)
        received = b"\x7e" + short.value.partial  # the partial of the last readexactly
        assert 0 < len(received) < 0x21 + 1
        assert await reader.read() == b""  # closed
        writer.close()

    serve(body)


def test_bad_crc_meter_corrupts_the_checksum() -> None:
    async def body(fleet: SimulatedFleet) -> None:
        meter = fleet.meter(5)
        reader, writer = await asyncio.open_connection(meter.host, meter.port)
        writer.write(read_request(o.SERIAL))
        _, raw = await asyncio.wait_for(read_frame_bytes(reader), 2)
        with pytest.raises(CrcError):
            decode_frame(raw)
        writer.close()

    serve(body)


def test_nak_meter_refuses_voltage_only() -> None:
    async def body(fleet: SimulatedFleet) -> None:
        meter = fleet.meter(6)
        reply = await exchange(meter.host, meter.port, read_request(o.VOLTAGE))
        assert reply.ack_nak == 5 and reply.length == 0x11
        assert reply.data == bytes([1]) + o.VOLTAGE.id_bytes + b"\x00"
        assert await value(meter, o.SERIAL) == meter.serial

    serve(body)


def test_garbage_meter_sends_noise_before_a_valid_frame() -> None:
    async def body(fleet: SimulatedFleet) -> None:
        meter = fleet.meter(7)
        reader, writer = await asyncio.open_connection(meter.host, meter.port)
        writer.write(read_request(o.SERIAL))
        skipped, raw = await asyncio.wait_for(read_frame_bytes(reader), 2)
        assert 3 <= len(skipped) <= 24 and 0x7E not in skipped
        assert o.SERIAL.decode(decode_default(decode_frame(raw).data).payload) == meter.serial
        writer.close()

    serve(body)


async def expect_reset(meter: SimMeter) -> None:
    reader, writer = await asyncio.open_connection(meter.host, meter.port)
    try:
        writer.write(read_request(o.SERIAL))
        with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)) as refused:
            await asyncio.wait_for(read_frame_bytes(reader), 2)
        if isinstance(refused.value, asyncio.IncompleteReadError):
            assert refused.value.partial == b""
    finally:
        writer.close()


def test_too_soon_meter_resets_a_connection_inside_its_gap() -> None:
    async def body(fleet: SimulatedFleet) -> None:
        meter = fleet.meter(8)
        assert (await exchange(meter.host, meter.port, read_request(o.SERIAL))).ack_nak == 0
        await expect_reset(meter)
        await asyncio.sleep(0.7)
        assert (await exchange(meter.host, meter.port, read_request(o.SERIAL))).ack_nak == 0
        other = fleet.meter(0)  # no gap on the others (min_gap_seconds = 0)
        for _ in range(3):
            assert (await exchange(other.host, other.port, read_request(o.SERIAL))).ack_nak == 0

    serve(body)


def test_fleet_min_gap_resets_back_to_back_requests_on_one_connection() -> None:
    async def body(fleet: SimulatedFleet) -> None:
        meter = fleet.meter(0)
        reader, writer = await asyncio.open_connection(meter.host, meter.port)
        writer.write(read_request(o.SERIAL))
        await read_frame_bytes(reader)
        writer.write(read_request(o.SERIAL))
        with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(read_frame_bytes(reader), 2)
        writer.close()
        await asyncio.sleep(0.5)
        assert (await exchange(meter.host, meter.port, read_request(o.SERIAL))).ack_nak == 0

    serve(body, config(min_gap_seconds=0.4))
