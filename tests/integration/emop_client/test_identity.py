"""Every conversation confirms that the meter reports the registered serial before its answers
are used or anything is written to it; a relay in front of the simulated meter shows what was
actually sent."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from dagster_project.emop import objects as o
from dagster_project.emop.client import STATE_OBJECTS, ClientSettings, EmopClient
from dagster_project.emop.errors import (
    IdentityMismatchError,
    IdentityUnconfirmedError,
    MeterTimeoutError,
    MeterUnreachableError,
)
from dagster_project.simulator import FleetConfig, SimulatedFleet
from tests.support.relay import DROP, FORWARD, Relay, is_read_of

QUICK = ClientSettings(
    timeout_seconds=0.5,
    attempts=2,
    backoff_base_seconds=0.05,
    backoff_max_seconds=0.1,
    min_gap_seconds=0.0,
)
OTHER_SERIAL = "EML0000000001"
TOKEN = "01234567890123456789"  # credits £12.34 on the simulated meter
VALUES = (
    "serial",
    "hardware",
    "firmware",
    "clock",
    "clock_time_diff_seconds",
    "csq",
    "csq_operator",
    "voltage",
    "element_a",
    "element_b",
    "prepay_balance",
    "prepay_enabled",
    "dst_enabled",
    "tariffs_active",
    "tariffs_future",
)
SERIAL_READ = is_read_of(o.SERIAL)


def one_meter(seed: int) -> FleetConfig:
    return FleetConfig(port=0, meters=1, seed=seed, freeze_model=True)


def test_read_state_of_a_meter_reporting_another_serial_keeps_nothing() -> None:
    async def run():
        async with SimulatedFleet(one_meter(41)) as fleet, EmopClient(QUICK) as client:
            (meter,) = fleet.meters
            async with Relay(meter) as relay:
                endpoint = relay.endpoint(OTHER_SERIAL)
                state = await client.read_state(endpoint)
            return meter, endpoint, state, relay.requests

    meter, endpoint, state, requests = asyncio.run(run())
    assert {name: getattr(state, name) for name in VALUES} == dict.fromkeys(VALUES)
    error = state.errors[o.SERIAL.name]
    assert isinstance(error, IdentityMismatchError) and not error.retryable
    assert (error.registered, error.reported) == (OTHER_SERIAL, meter.serial)
    for named in (OTHER_SERIAL, meter.serial, f"{endpoint.host}:{endpoint.port}"):
        assert named in str(error)
    # Nothing after the serial was asked for, and every other object says why.
    assert len(requests) == 1 and SERIAL_READ(requests[0])
    for obj in STATE_OBJECTS[1:]:
        other = state.errors[obj.name]
        assert isinstance(other, MeterUnreachableError) and "identity mismatch" in str(other)
    assert state.read_ok == [] and not state.contacted and not state.partial
    assert state.reachable and not state.ok
    assert state.to_json()["contacted"] is False


def test_writes_and_log_reads_to_a_meter_reporting_another_serial_are_never_sent() -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)

    async def run():
        async with SimulatedFleet(one_meter(42)) as fleet, EmopClient(QUICK) as client:
            (meter,) = fleet.meters
            balance = meter.ground_truth().prepay_balance
            tariff = replace(
                meter.ground_truth().tariffs_active, activation_datetime=datetime(2031, 4, 1)
            )
            async with Relay(meter) as relay:
                endpoint = relay.endpoint(OTHER_SERIAL)
                calls = {
                    "send_token": lambda: client.send_token(endpoint, TOKEN),
                    "write": lambda: client.write(endpoint, o.DST_FLAG, b"\x01"),
                    "write_future_tariff": lambda: client.write_future_tariff(endpoint, tariff),
                    "write_clock": lambda: client.write_clock(endpoint),
                    "read_profile_log": lambda: client.read_profile_log(
                        endpoint, 1, start, twin_element=False
                    ),
                    "read_profile_range": lambda: client.read_profile_range(
                        endpoint, 1, start, start + timedelta(hours=1), twin_element=False
                    ),
                    "read_event_log_page": lambda: client.read_event_log_page(endpoint, 0),
                    "read_events_since": lambda: client.read_events_since(endpoint, start),
                }
                raised = {}
                for name, call in calls.items():
                    with pytest.raises(IdentityMismatchError) as error:
                        await call()
                    raised[name] = error.value
            return meter, balance, raised, relay.requests

    meter, balance_before, raised, requests = asyncio.run(run())
    # The serial was read once, for the first call; the channel remembers the answer.
    assert len(requests) == 1 and SERIAL_READ(requests[0])
    token = raised["send_token"]
    assert not token.request_sent and token.object_name == o.PREPAY_TOKEN.name
    assert meter.serial in str(token) and OTHER_SERIAL in str(token)
    assert meter.model.tokens is None
    assert meter.ground_truth().prepay_balance == balance_before


def test_a_meter_reporting_its_serial_is_confirmed_once_per_conversation() -> None:
    async def run():
        async with SimulatedFleet(one_meter(43)) as fleet, EmopClient(QUICK) as client:
            (meter,) = fleet.meters
            balance = meter.ground_truth().prepay_balance
            async with Relay(meter) as relay:
                # Registry padding does not matter; a new connection per request does not
                # make the client read the serial again.
                endpoint = relay.endpoint(meter.serial + "   ")
                await client.send_token(endpoint, TOKEN)
                state = await client.read_state(endpoint)
                await client.write_clock(endpoint)
            return meter, balance, state, relay.requests

    meter, balance_before, state, requests = asyncio.run(run())
    assert [SERIAL_READ(data) for data in requests[:2]] == [True, False]
    assert requests[1][1:4] == o.PREPAY_TOKEN.object_id.to_bytes(3, "big")
    assert meter.ground_truth().prepay_balance > balance_before
    # read_state reads the serial as its first object (and checks it again, at no cost).
    assert sum(map(SERIAL_READ, requests)) == 2
    assert len(requests) == 2 + len(STATE_OBJECTS) + 1
    assert state.ok and state.serial == meter.serial
    assert state.read_ok == [obj.name for obj in STATE_OBJECTS]
    assert state.contacted and not state.partial


def test_a_meter_registered_without_a_serial_is_not_checked() -> None:
    async def run():
        async with SimulatedFleet(one_meter(44)) as fleet, EmopClient(QUICK) as client:
            (meter,) = fleet.meters
            async with Relay(meter) as relay:
                await client.send_token(relay.endpoint(None), TOKEN)
            return meter, relay.requests

    meter, requests = asyncio.run(run())
    assert len(requests) == 1 and not SERIAL_READ(requests[0])
    assert meter.model.tokens == {TOKEN}


def test_a_token_is_not_sent_when_the_serial_cannot_be_read() -> None:
    async def run():
        async with SimulatedFleet(one_meter(45)) as fleet, EmopClient(QUICK) as client:
            (meter,) = fleet.meters
            lose_serial_reads = lambda n, data: DROP if SERIAL_READ(data) else FORWARD  # noqa: E731
            async with Relay(meter, lose_serial_reads) as relay:
                with pytest.raises(IdentityUnconfirmedError) as raised:
                    await client.send_token(relay.endpoint(meter.serial), TOKEN)
            return meter, raised.value, relay.requests

    meter, error, requests = asyncio.run(run())
    assert all(map(SERIAL_READ, requests)) and len(requests) == QUICK.attempts
    assert isinstance(error.cause, MeterTimeoutError) and error.retryable
    assert not error.request_sent and "identity could not be confirmed" in str(error)
    assert meter.model.tokens is None
