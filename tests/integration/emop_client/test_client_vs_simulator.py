"""The EMOP client against simulated meters over real loopback TCP: one test per fault kind,
and a 1,000-meter fleet with faulty meters polled concurrently."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from datetime import datetime
from decimal import Decimal

import pytest

from dagster_project.emop import objects as o
from dagster_project.emop.client import STATE_OBJECTS, ClientSettings, EmopClient
from dagster_project.emop.connection_slots import LocalConnectionSlots
from dagster_project.emop.errors import (
    ConnectionRefusedByMeter,
    CrcError,
    EmopError,
    MeterConnectionError,
    MeterTimeoutError,
    MeterUnreachableError,
    NakError,
)
from dagster_project.emop.state import MeterEndpoint, MeterState
from dagster_project.simulator import FleetConfig, GroundTruth, SimulatedFleet

# Tight enough that faults cost little time, generous enough for a loaded CI machine.
# Short, yet with room for a loaded machine (make test runs two test processes beside the
# browser test): a healthy meter must never look silent, and slow meters stay slower than this.
FAST = ClientSettings(
    timeout_seconds=2.5,
    attempts=2,
    backoff_base_seconds=0.05,
    backoff_max_seconds=0.1,
    min_gap_seconds=0.0,
    max_concurrent_meters=200,
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
# The error a correct client reports for each fault: on the first object it reads (None: no
# error at all), and whether the rest of the meter is then given up as unreachable.
EXPECTED_CAUSE: dict[str, tuple[type[EmopError] | None, str]] = {
    "offline": (ConnectionRefusedByMeter, o.SERIAL.name),
    "silent": (MeterTimeoutError, o.SERIAL.name),
    "slow": (MeterTimeoutError, o.SERIAL.name),
    "truncated": (MeterConnectionError, o.SERIAL.name),
    "bad_crc": (CrcError, o.SERIAL.name),
    "nak": (NakError, o.VOLTAGE.name),
    "garbage": (None, ""),
    # The meter answers the first request, then resets the next one that comes too soon.
    "too_soon": (MeterConnectionError, o.HARDWARE.name),
}


def endpoint(meter) -> MeterEndpoint:
    return MeterEndpoint(host=meter.host, port=meter.port, serial=meter.serial)


def assert_matches_truth(state: MeterState, truth: GroundTruth, skip: frozenset[str] = frozenset()):
    expected = {
        "serial": truth.serial,
        "hardware": truth.hardware,
        "firmware": truth.firmware,
        "csq": truth.csq,
        "csq_operator": truth.csq_operator,
        "voltage": truth.voltage,
        "element_a": truth.element_a,
        "element_b": truth.element_b,
        "prepay_balance": truth.prepay_balance,
        "prepay_enabled": truth.prepay_enabled,
        "dst_enabled": truth.dst_enabled,
        "tariffs_active": truth.tariffs_active,
        "tariffs_future": truth.tariffs_future,
    }
    got = {name: getattr(state, name) for name in expected}
    for name in skip:
        expected.pop(name), got.pop(name)
    assert got == expected, state.meter.label
    # The meter's clock has one-second resolution, and the answer reaches the client at most one
    # exchange's time limit after the meter read its clock (seconds, on a loaded machine).
    assert state.clock_time_diff_seconds is not None
    slack = 1 + FAST.timeout_seconds
    assert abs(state.clock_time_diff_seconds - truth.clock_time_diff_seconds) <= slack


def assert_cause(state: MeterState, fault: str) -> None:
    error_class, object_name = EXPECTED_CAUSE[fault]
    if error_class is None:
        assert state.ok, {name: str(error) for name, error in state.errors.items()}
        return
    error = state.errors[object_name]
    assert isinstance(error, error_class), f"{fault}: {error!r}"
    assert state.meter.serial in str(error) and object_name in str(error)
    if fault == "nak":
        assert error.code == 5 and list(state.errors) == [o.VOLTAGE.name]
    else:
        others = [e for name, e in state.errors.items() if name != object_name]
        assert others and all(isinstance(e, MeterUnreachableError) for e in others)


@pytest.fixture(scope="module")
def faulty_fleet_states():
    config = FleetConfig(
        port=0,
        meters=9,
        seed=11,
        faults=FAULTS,
        freeze_model=True,
        slow_seconds=6.0,
        too_soon_gap_seconds=30.0,
    )

    async def run():
        async with SimulatedFleet(config) as fleet, EmopClient(FAST) as client:
            states = await client.read_fleet([endpoint(m) for m in fleet.meters])
            return {
                m.fault: (state, m.ground_truth())
                for m, state in zip(fleet.meters, states, strict=True)
            }

    return asyncio.run(run())


def test_healthy_meter_reads_exactly_the_ground_truth(faulty_fleet_states) -> None:
    state, truth = faulty_fleet_states[None]
    assert state.ok
    assert_matches_truth(state, truth)


@pytest.mark.parametrize("fault", list(FAULTS.values()))
def test_each_fault_is_reported_with_its_cause(faulty_fleet_states, fault: str) -> None:
    state, truth = faulty_fleet_states[fault]
    assert_cause(state, fault)
    if fault in ("nak", "garbage"):
        assert_matches_truth(state, truth, skip=frozenset({"voltage"} if fault == "nak" else ()))
    if fault == "offline":
        assert not state.reachable


@pytest.mark.parametrize("fault", [None, *FAULTS.values()])
def test_each_outcome_says_what_was_read(faulty_fleet_states, fault: str | None) -> None:
    state, _ = faulty_fleet_states[fault]
    # Meters that never answer a whole frame are not contacted; the others are, and those
    # that refused some object (or stopped answering after the serial) are partial reads.
    contacted = fault not in ("offline", "silent", "slow", "truncated", "bad_crc")
    assert state.contacted == contacted
    assert state.partial == (fault in ("nak", "too_soon"))
    assert state.read_ok == [obj.name for obj in STATE_OBJECTS if obj.name not in state.errors]
    if fault == "too_soon":
        assert state.read_ok == [o.SERIAL.name]
    out = state.to_json()
    assert (out["read_ok"], out["contacted"], out["partial"]) == (
        state.read_ok,
        state.contacted,
        state.partial,
    )


def test_slow_meter_is_read_when_the_timeout_allows() -> None:
    config = FleetConfig(
        port=0, meters=1, seed=3, faults={0: "slow"}, slow_seconds=0.2, freeze_model=True
    )

    async def run():
        async with SimulatedFleet(config) as fleet, EmopClient(FAST) as client:
            (meter,) = fleet.meters
            return await client.read_state(endpoint(meter)), meter.ground_truth()

    state, truth = asyncio.run(run())
    assert state.ok
    assert_matches_truth(state, truth)


def test_spacing_rule_satisfies_a_meter_that_refuses_early_requests() -> None:
    config = FleetConfig(port=0, meters=1, seed=5, faults={0: "too_soon"}, too_soon_gap_seconds=0.5)
    spaced = ClientSettings(timeout_seconds=1.0, attempts=1, min_gap_seconds=0.6)

    async def run():
        async with SimulatedFleet(config) as fleet:
            (meter,) = fleet.meters
            async with EmopClient(spaced) as client:
                return [
                    await client.read(endpoint(meter), obj) for obj in (o.SERIAL, o.CSQ, o.HARDWARE)
                ]

    serial, signal, hardware = asyncio.run(run())
    assert serial.startswith("EML") and 0 <= signal.csq <= 31 and hardware


def test_writes_are_acknowledged_and_take_effect() -> None:
    config = FleetConfig(port=0, meters=1, seed=9, freeze_model=True)

    async def run():
        async with SimulatedFleet(config) as fleet, EmopClient(FAST) as client:
            (meter,) = fleet.meters
            tariff = meter.ground_truth().tariffs_active
            new = dataclasses.replace(
                tariff,
                standing_charge=tariff.standing_charge + Decimal("0.01234"),
                unit_rate_element_a=Decimal("0.31415"),
                activation_datetime=datetime(2031, 4, 1),
            )
            await client.write_future_tariff(endpoint(meter), new)
            await client.write_clock(endpoint(meter))
            read_back = await client.read_tariff(endpoint(meter), future=True)
            _, drift = await client.read_clock(endpoint(meter))
            return new, read_back, drift

    written, read_back, drift = asyncio.run(run())
    assert read_back == written
    assert abs(drift) <= 1


def test_a_thousand_meter_fleet_with_faults_is_read_concurrently_and_correctly() -> None:
    config = FleetConfig(
        port=0,
        meters=1000,
        seed=2026,
        faulty_fraction=0.05,
        freeze_model=True,
        slow_seconds=6.0,
        # However late a loaded machine sends the next request, it is still too soon.
        too_soon_gap_seconds=30.0,
    )

    async def run():
        async with SimulatedFleet(config) as fleet, EmopClient(FAST) as client:
            async with asyncio.timeout(180):  # nothing may hang
                states = await client.read_fleet([endpoint(m) for m in fleet.meters])
            return [
                (m.fault, state, m.ground_truth())
                for m, state in zip(fleet.meters, states, strict=True)
            ]

    results = asyncio.run(run())
    faults = Counter(fault for fault, _, _ in results if fault)
    assert sum(faults.values()) >= 50 and len(faults) == len(EXPECTED_CAUSE)
    for fault, state, truth in results:
        if fault is None:
            assert state.ok, (state.meter.label, {n: str(e) for n, e in state.errors.items()})
            assert_matches_truth(state, truth)
        else:
            assert_cause(state, fault)


async def _peak_connections_per_group(
    fleet: SimulatedFleet, group_of_serial: dict[str, str], reading: asyncio.Future
) -> Counter[str]:
    """The most connections the fleet's meters of each group had open at once while `reading`
    ran, sampled on the loop that serves them."""
    peak: Counter[str] = Counter()
    while not reading.done():
        now = Counter(group_of_serial[c.meter.serial] for c in fleet.connections if not c.closed)
        peak |= now
        await asyncio.sleep(0.001)
    return peak


@pytest.mark.parametrize("capped", [True, False])
def test_two_readers_sharing_slots_keep_a_group_within_its_connection_cap(capped: bool) -> None:
    # Two clients stand for two runs of a fanned-out sync; each reads half of both groups.
    # Connections stay open for a whole meter (reuse_connections), so what the meters see open
    # at once is what the clients hold.
    config = FleetConfig(port=0, meters=16, seed=8, freeze_model=True, latency_seconds=0.02)
    settings = dataclasses.replace(FAST, reuse_connections=True, max_concurrent_meters=8)
    slots = LocalConnectionSlots({"esco-a": 2}) if capped else LocalConnectionSlots({})

    async def run():
        async with SimulatedFleet(config) as fleet:
            group = {m.serial: ("esco-a" if m.index % 4 else "esco-b") for m in fleet.meters}
            halves = [[endpoint(m) for m in fleet.meters if m.index % 2 == n] for n in (0, 1)]
            async with (
                EmopClient(settings, slots=slots) as one,
                EmopClient(settings, slots=slots) as two,
            ):
                reading = asyncio.gather(
                    *(
                        client.read_fleet(half, group_of=lambda meter: group[meter.serial])
                        for client, half in zip((one, two), halves, strict=True)
                    )
                )
                peak = await _peak_connections_per_group(fleet, group, reading)
                states = [s for states in await reading for s in states]
            # Every slot came back, the last meters' included.
            free = [await slots.try_take("esco-a") for _ in range(3)]
            return states, peak, free

    states, peak, free = asyncio.run(run())
    if capped:
        assert [slot is not None for slot in free] == [True, True, False]
    assert len(states) == 16 and all(state.ok for state in states)
    if capped:
        assert peak["esco-a"] == 2
    else:  # the same reads without the cap: the test would see a broken one
        assert peak["esco-a"] > 2
    assert peak["esco-b"] >= 2
