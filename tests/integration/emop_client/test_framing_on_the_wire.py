"""Framing over real TCP: answers behind noise that holds 0x7E bytes are still found, and an
answer cut short by the time limit is reported with the bytes that did arrive."""

from __future__ import annotations

import asyncio

import pytest

from dagster_project.emop import objects as o
from dagster_project.emop.client import ClientSettings, EmopClient
from dagster_project.emop.errors import MeterTimeoutError
from dagster_project.simulator import FleetConfig, SimulatedFleet
from tests.support.relay import Relay

SETTINGS = ClientSettings(
    timeout_seconds=1.0,
    attempts=1,
    backoff_base_seconds=0.01,
    backoff_max_seconds=0.02,
    min_gap_seconds=0.0,
)
#: A modem line with false frame starts: an impossible length, then a length past the answer.
NOISE = b"AT\r\n\x7e\x03\x00\x7e\xff\x01"


def test_every_answer_behind_noise_holding_0x7e_is_read() -> None:
    config = FleetConfig(port=0, meters=1, seed=61, freeze_model=True)

    async def run():
        async with SimulatedFleet(config) as fleet, EmopClient(SETTINGS) as client:
            (meter,) = fleet.meters
            async with Relay(meter, answer_noise=NOISE) as relay:
                state = await client.read_state(relay.endpoint(meter.serial))
            return state, meter.ground_truth()

    state, truth = asyncio.run(run())
    assert state.ok, {name: str(error) for name, error in state.errors.items()}
    assert state.serial == truth.serial and state.prepay_balance == truth.prepay_balance
    assert state.tariffs_active == truth.tariffs_active


def test_a_timeout_keeps_the_bytes_that_arrived() -> None:
    config = FleetConfig(port=0, meters=1, seed=62, freeze_model=True)
    settings = ClientSettings(timeout_seconds=0.3, attempts=1, min_gap_seconds=0.0)
    cut = 10

    async def run():
        async with SimulatedFleet(config) as fleet, EmopClient(settings) as client:
            (meter,) = fleet.meters
            async with Relay(meter, answer_noise=NOISE, answer_limit=cut) as relay:
                with pytest.raises(MeterTimeoutError) as raised:
                    await client.read(relay.endpoint(meter.serial), o.SERIAL)
            return raised.value

    error = asyncio.run(run())
    assert error.received is not None and len(error.received) == len(NOISE) + cut
    assert error.received.startswith(NOISE) and error.received[len(NOISE)] == 0x7E
    assert error.received.hex() in str(error)
    assert "frame length 3 is under the minimum" in str(error)  # the false start skipped
