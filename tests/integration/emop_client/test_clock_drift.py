"""Clock drift measured at the exchange that carried the clock read, checked against the
simulated meters' true drift when that exchange came after a request gap and a retry."""

from __future__ import annotations

import asyncio
from statistics import mean

from dagster_project.emop import objects as o
from dagster_project.emop.client import ClientSettings, EmopClient
from dagster_project.emop.state import MeterEndpoint
from dagster_project.simulator import FleetConfig, SimulatedFleet
from tests.support.relay import DROP, FORWARD, Relay, is_read_of

#: The largest mean error allowed: the meters' clocks tick in whole seconds.
BOUND_SECONDS = 0.6
METERS = 6


async def at_phase(number: int, of: int) -> None:
    """Start reader `number` of `of` that fraction of a second later: a clock that ticks in
    whole seconds makes each reading's error depend on where in its second it was read, so
    readings spread over the second average out to the measurement's own bias."""
    await asyncio.sleep(number / of)


def endpoint(meter) -> MeterEndpoint:
    return MeterEndpoint(host=meter.host, port=meter.port, serial=meter.serial)


def test_drift_after_the_gap_and_a_refused_first_attempt_matches_the_true_drift() -> None:
    # The meters refuse a request sooner than 3 s after their last answer; the client leaves
    # 1 s, so its first try at the clock is refused and the second, after 2.2 s of backoff, is
    # answered ~3.2 s after the client began waiting to send it.
    config = FleetConfig(
        port=0,
        meters=METERS,
        seed=31,
        faults=dict.fromkeys(range(METERS), "too_soon"),
        too_soon_gap_seconds=3.0,
        freeze_model=True,
    )
    settings = ClientSettings(
        timeout_seconds=2.0,
        attempts=3,
        backoff_base_seconds=2.2,
        backoff_max_seconds=2.2,
        backoff_jitter=0.0,
        min_gap_seconds=1.0,
    )

    async def one(client: EmopClient, meter) -> int:
        await at_phase(meter.index, METERS)
        # The first exchange (the serial) is answered at once; the clock read comes after it.
        assert await client.read(endpoint(meter), o.SERIAL) == meter.serial
        _, drift = await client.read_clock(endpoint(meter))
        return drift - meter.ground_truth().clock_time_diff_seconds

    async def run() -> list[int]:
        async with SimulatedFleet(config) as fleet, EmopClient(settings) as client:
            return await asyncio.gather(*(one(client, meter) for meter in fleet.meters))

    errors = asyncio.run(run())
    assert abs(mean(errors)) <= BOUND_SECONDS, errors


def test_read_state_drift_after_a_lost_clock_request_matches_the_true_drift() -> None:
    # The line loses each meter's first clock request: the client waits out its time limit,
    # backs off, and reads the clock on the second attempt.
    config = FleetConfig(port=0, meters=METERS, seed=32, freeze_model=True)
    settings = ClientSettings(
        timeout_seconds=1.5,
        attempts=2,
        backoff_base_seconds=0.3,
        backoff_max_seconds=0.3,
        backoff_jitter=0.0,
        min_gap_seconds=0.05,
    )
    clock_read = is_read_of(o.CLOCK)

    def lose_first_clock_read(relay_requests: list[bytes]):
        return lambda n, data: (
            DROP if clock_read(data) and not any(map(clock_read, relay_requests)) else FORWARD
        )

    async def one(client: EmopClient, meter) -> int:
        await at_phase(meter.index, METERS)
        relay = Relay(meter)
        relay.tamper = lose_first_clock_read(relay.requests)
        async with relay:
            state = await client.read_state(relay.endpoint(meter.serial))
        assert state.ok, state.errors
        assert sum(map(clock_read, relay.requests)) == 2  # the retry happened
        assert state.clock_time_diff_seconds is not None
        return state.clock_time_diff_seconds - meter.ground_truth().clock_time_diff_seconds

    async def run() -> list[int]:
        async with SimulatedFleet(config) as fleet, EmopClient(settings) as client:
            return await asyncio.gather(*(one(client, meter) for meter in fleet.meters))

    errors = asyncio.run(run())
    assert abs(mean(errors)) <= BOUND_SECONDS, errors
