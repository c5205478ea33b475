"""The budget of consecutive NAKs: a meter that cannot take any frame is given up after a few,
not after attempts x objects exchanges; an answer resets the count, and a NAK about one object
(not recognised) does not count, so the rest of that meter is still read."""

from __future__ import annotations

import asyncio

from dagster_project.emop import objects as o
from dagster_project.emop.client import STATE_OBJECTS, ClientSettings, EmopClient
from dagster_project.emop.errors import (
    AckNak,
    MeterUnreachableError,
    NakError,
    TooManyNaksError,
)
from dagster_project.emop.state import MeterEndpoint, MeterState
from dagster_project.simulator import FleetConfig, SimulatedFleet
from tests.support.relay import CORRUPT, FORWARD, Relay, Tamper, is_read_of

SETTINGS = ClientSettings(
    timeout_seconds=1.0,
    attempts=3,
    backoff_base_seconds=0.01,
    backoff_max_seconds=0.02,
    min_gap_seconds=0.0,
)
SERIAL_READ = is_read_of(o.SERIAL)
GIVEN_UP = "given up after 6 consecutive NAKs, last code 1 (CRC_ERROR)"


def read_through_relay(seed: int, tamper: Tamper) -> tuple[MeterState, list[bytes]]:
    """One meter's read_state with every request passing the relay (damaged by `tamper`)."""
    config = FleetConfig(port=0, meters=1, seed=seed, freeze_model=True)

    async def run():
        async with SimulatedFleet(config) as fleet, EmopClient(SETTINGS) as client:
            (meter,) = fleet.meters
            async with Relay(meter, tamper) as relay:
                state = await client.read_state(relay.endpoint(meter.serial))
            return state, relay.requests

    return asyncio.run(run())


def test_a_meter_that_naks_every_frame_is_given_up_after_the_budget() -> None:
    # The line damages every request but the serial read: the meter answers NAK 1 (CRC).
    state, requests = read_through_relay(
        51, lambda n, data: FORWARD if SERIAL_READ(data) else CORRUPT
    )
    assert SETTINGS.max_consecutive_naks == 6  # the default
    # The serial, then three tries of the hardware and three of the firmware: six NAKs.
    assert len(requests) == 1 + 6
    hardware = state.errors[o.HARDWARE.name]
    assert isinstance(hardware, NakError) and hardware.code == AckNak.CRC_ERROR
    firmware = state.errors[o.FIRMWARE.name]
    assert isinstance(firmware, TooManyNaksError) and GIVEN_UP in str(firmware)
    assert firmware.code == AckNak.CRC_ERROR and not firmware.retryable
    position = STATE_OBJECTS.index(o.FIRMWARE)
    for obj in STATE_OBJECTS[position + 1 :]:
        error = state.errors[obj.name]
        assert isinstance(error, MeterUnreachableError) and GIVEN_UP in str(error)
    assert state.read_ok == [o.SERIAL.name] and state.contacted and state.partial


def test_an_answer_resets_the_count() -> None:
    # Every other request is damaged: each object is NAKed once, then read on its second try.
    state, requests = read_through_relay(52, lambda n, data: CORRUPT if n % 2 else FORWARD)
    assert state.ok, {name: str(error) for name, error in state.errors.items()}
    assert len(requests) == 1 + 2 * (len(STATE_OBJECTS) - 1)  # far more NAKs than the budget
    assert state.read_ok == [obj.name for obj in STATE_OBJECTS]


def test_naks_for_unknown_objects_do_not_spend_the_budget() -> None:
    unknown = (o.HARDWARE, o.FIRMWARE, o.CSQ, o.VOLTAGE, o.ELEMENT_A, o.ELEMENT_B, o.DST_FLAG)
    assert len(unknown) > SETTINGS.max_consecutive_naks
    config = FleetConfig(
        port=0,
        meters=1,
        seed=53,
        faults={0: "nak"},
        nak_object_ids=tuple(obj.object_id for obj in unknown),
        freeze_model=True,
    )

    async def run():
        async with SimulatedFleet(config) as fleet, EmopClient(SETTINGS) as client:
            (meter,) = fleet.meters
            endpoint = MeterEndpoint(meter.host, meter.port, meter.serial)
            return await client.read_state(endpoint), meter.ground_truth()

    state, truth = asyncio.run(run())
    assert set(state.errors) == {obj.name for obj in unknown}
    for error in state.errors.values():
        assert isinstance(error, NakError) and error.code == AckNak.OBJECT_NOT_RECOGNISED
    assert state.read_ok == [obj.name for obj in STATE_OBJECTS if obj not in unknown]
    assert state.tariffs_future == truth.tariffs_future and state.clock is not None
    assert state.contacted and state.partial
