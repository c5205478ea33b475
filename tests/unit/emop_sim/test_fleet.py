"""Fleet construction without a network: identities, addresses, faults, registry CSV, sim time."""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dagster_project.domain.registry import parse_registry_csv
from dagster_project.simulator import FAULT_KINDS, FleetConfig, SimClock, SimulatedFleet
from dagster_project.simulator.config import ip_for_index
from dagster_project.simulator.identity import assign_faults, build_specs

ORIGIN = datetime(2024, 7, 3, 12, 5, tzinfo=UTC)


def test_same_seed_gives_the_same_fleet_and_state_however_it_was_polled() -> None:
    config = FleetConfig(meters=40, seed=11, sim_origin=ORIGIN, freeze_model=True)
    polled, untouched = SimulatedFleet(config), SimulatedFleet(config)
    for hours in (-30, -20, -5, -1):  # the first fleet is read at earlier instants too
        polled.freeze(ORIGIN + timedelta(hours=hours))
        for meter in polled.meters[::3]:
            meter.ground_truth()
    polled.freeze(ORIGIN)
    for a, b in zip(polled.meters, untouched.meters, strict=True):
        assert (a.serial, a.host, a.port, a.address, a.fault) == (
            b.serial,
            b.host,
            b.port,
            b.address,
            b.fault,
        )
        assert a.ground_truth() == b.ground_truth()
        assert a.model.snapshot() == b.model.snapshot()
    other = SimulatedFleet(FleetConfig(meters=40, seed=12, sim_origin=ORIGIN, freeze_model=True))
    assert {m.serial for m in other.meters}.isdisjoint({m.serial for m in polled.meters})


def test_identities_are_unique_and_well_formed() -> None:
    specs = build_specs(FleetConfig(meters=3000, seed=3))
    assert len({s.serial for s in specs}) == 3000
    assert len({s.id for s in specs}) == 3000
    assert all(re.fullmatch(r"EML\d{10}", s.serial) for s in specs)
    models = Counter(s.hardware for s in specs)
    assert models["C1.w"] > models["B1.w"] > 0 and models["EMA1.w"] > 0
    assert all(re.fullmatch(r"\d_\d\d_\d", s.firmware) for s in specs)
    addresses = Counter(s.address for s in specs)
    assert addresses.most_common(1)[0][0] == 0x000018B0
    assert len({s.esco for s in specs}) == 3


def test_loopback_addresses_avoid_the_first_subnet_and_broadcast_octets() -> None:
    hosts = [ip_for_index(i) for i in range(0, 100_000, 7)] + [ip_for_index(99_999)]
    for host in hosts:
        address = ipaddress.ip_address(host)
        assert address in ipaddress.ip_network("127.0.0.0/8")
        assert address not in ipaddress.ip_network("127.0.0.0/24")
        assert host.rsplit(".", 1)[1] not in ("0", "255")
    assert len({ip_for_index(i) for i in range(100_000)}) == 100_000
    assert ip_for_index(0) == "127.0.1.1" and ip_for_index(254) == "127.0.2.1"


def test_faults_are_dealt_exactly_and_explicit_ones_win() -> None:
    config = FleetConfig(meters=1000, seed=7, faulty_fraction=0.08, faults={3: "offline", 5: None})
    faults = assign_faults(config)
    assert faults[3] == "offline" and 5 not in faults
    assert abs(len(faults) - 80) <= 1
    kinds = Counter(faults.values())
    assert set(kinds) == set(FAULT_KINDS)
    assert assign_faults(config) == faults  # deterministic
    mix = FleetConfig(meters=100, seed=7, faulty_fraction=0.5, fault_mix={"slow": 1, "nak": 3})
    assert Counter(assign_faults(mix).values()) == {"nak": 37, "slow": 13}


def test_bad_configuration_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        FleetConfig(faults={1: "exploding"})
    with pytest.raises(ValueError, match="faulty_fraction"):
        FleetConfig(faulty_fraction=1.5)
    with pytest.raises(ValueError, match="do not fit"):
        FleetConfig(meters=50_000, addressing="ports", base_port=30_000)


def test_registry_csv_lists_exactly_the_fleet_and_validates(tmp_path: Path) -> None:
    config = FleetConfig(meters=500, seed=5, passive_fraction=0.1, faulty_fraction=0.1)
    fleet = SimulatedFleet(config)
    path = tmp_path / "registry.csv"
    assert fleet.write_registry_csv(path) == 500
    with path.open(newline="") as lines:
        result = parse_registry_csv(lines)
    assert result.rejects == []
    assert [m.serial for m in result.meters] == [m.serial for m in fleet.meters]
    by_serial = {m.serial: m for m in result.meters}
    modes = Counter(m.mode for m in result.meters)
    assert modes["active"] > modes["passive"] > 0
    for meter in fleet.meters[:50]:
        row = by_serial[meter.serial]
        assert str(row.ip_address) == meter.host and row.port == meter.port == 8080
        assert row.hardware == meter.hardware
        truth = meter.ground_truth()
        assert row.daylight_savings_correction_enabled == truth.dst_enabled
        assert row.prepay_enabled == truth.prepay_enabled


def test_port_addressing_puts_every_meter_on_one_host() -> None:
    fleet = SimulatedFleet(FleetConfig(meters=5, addressing="ports", base_port=41000))
    assert [(m.host, m.port) for m in fleet.meters] == [("127.0.0.1", 41000 + i) for i in range(5)]


def test_sim_clock_runs_at_its_speed_from_its_origin() -> None:
    clock = SimClock(sim_origin=1_000_000.0, wall_origin=50.0, speed=60.0)
    assert clock.sim_seconds(50.0) == 1_000_000.0
    assert clock.sim_seconds(51.0) == 1_000_060.0
    fleet = SimulatedFleet(
        FleetConfig(meters=1, sim_origin=ORIGIN, time_speed=3600.0, history_days=2)
    )
    assert fleet.model_time >= ORIGIN
    assert fleet.history_start == int(datetime(2024, 7, 1, tzinfo=UTC).timestamp())


def test_a_frozen_model_moves_only_when_told() -> None:
    fleet = SimulatedFleet(FleetConfig(meters=2, sim_origin=ORIGIN, freeze_model=True))
    meter = fleet.meters[0]
    first = meter.ground_truth()
    assert meter.ground_truth() == first
    fleet.advance(timedelta(hours=2))
    later = meter.ground_truth()
    assert later.sim_time == ORIGIN + timedelta(hours=2)
    assert later.element_a.active_import_wh > first.element_a.active_import_wh
