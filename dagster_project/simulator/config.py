"""Fleet configuration: size, seed, faults, latency, spacing, simulated time and addressing."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from dagster_project.emop import objects as o
from dagster_project.simulator.clock import SimClock, unix, utc

OFFLINE = "offline"
SILENT = "silent"
SLOW = "slow"
TRUNCATED = "truncated"
BAD_CRC = "bad_crc"
NAK = "nak"
GARBAGE = "garbage"
TOO_SOON = "too_soon"
#: Every fault kind, in the order random assignment deals them out.
FAULT_KINDS: tuple[str, ...] = (OFFLINE, SILENT, SLOW, TRUNCATED, BAD_CRC, NAK, GARBAGE, TOO_SOON)

IP_ADDRESSING = "ip"
PORT_ADDRESSING = "ports"
DEFAULT_PORT = 8080


@dataclass(frozen=True)
class FleetConfig:
    """Everything that decides a simulated fleet. Same config (and seed) -> same fleet.

    Faults: `faulty_fraction` of the meters (exactly round(fraction x meters), chosen from the
    seed) get a fault kind, dealt out in proportion to `fault_mix` (default: every kind in
    FAULT_KINDS equally); `faults` then sets or clears (None) the kind of given meter indices.

    Time: simulated time is `sim_origin` (default: now) when the wall clock reads `wall_origin`
    (default: now) and runs `time_speed` times as fast as the wall clock. With `freeze_model`
    the consumption model stays at `freeze_at` (default: sim_origin), while the meters' clock
    objects still read wall time plus each meter's drift.

    Addressing: "ip" gives meter i its own loopback address 127.x.y.z on `port` (default 8080);
    "ports" puts every meter on `host` with port `base_port + i`. A port of 0 (either mode) lets
    the OS choose a free port per meter, which tests use to avoid collisions.
    """

    meters: int = 10
    seed: int = 0
    faulty_fraction: float = 0.0
    fault_mix: Mapping[str, float] | None = None
    faults: Mapping[int, str | None] = field(default_factory=dict)
    #: Delay before every response (a simulated round trip), seconds.
    latency_seconds: float = 0.0
    #: Delay before every response of a `slow` meter, seconds (instead of latency_seconds).
    slow_seconds: float = 15.0
    #: Every meter resets connections/requests arriving sooner than this after its last response.
    min_gap_seconds: float = 0.0
    #: The gap a `too_soon` meter enforces (at least), whatever min_gap_seconds is.
    too_soon_gap_seconds: float = 2.0
    #: The objects a `nak` meter answers with NAK 5 (default: instantaneous voltage).
    nak_object_ids: tuple[int, ...] = (o.VOLTAGE.object_id,)
    time_speed: float = 1.0
    sim_origin: datetime | None = None
    wall_origin: float | None = None
    freeze_model: bool = False
    freeze_at: datetime | None = None
    #: Days of half-hourly history before the day of sim_origin (the meters' logs start then).
    #: A meter computes its history on first use (~7 us per half hour), so keep this short.
    history_days: int = 1
    #: Profile-log records kept per meter (older ones are dropped), default 60 days.
    profile_capacity: int = 2880
    addressing: str = IP_ADDRESSING
    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"
    base_port: int = 20000
    #: Fraction of meters listed as mode=passive (digital twins) in the registry CSV.
    passive_fraction: float = 0.0
    esco_count: int = 3
    #: A connection with nothing received for this long is closed by the meter.
    idle_timeout_seconds: float = 60.0
    #: Answer NAK 7 to requests whose destination is neither 0 nor the meter's address.
    check_destination: bool = False

    def __post_init__(self) -> None:
        if self.meters < 0:
            raise ValueError(f"meters must not be negative, got {self.meters}")
        for name in ("faulty_fraction", "passive_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        for name in ("latency_seconds", "slow_seconds", "min_gap_seconds", "too_soon_gap_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if not self.time_speed > 0:
            raise ValueError(f"time_speed must be positive, got {self.time_speed}")
        if self.history_days < 0 or self.profile_capacity < 1 or self.esco_count < 1:
            raise ValueError("history_days >= 0, profile_capacity >= 1 and esco_count >= 1")
        if self.idle_timeout_seconds <= 0:
            raise ValueError("idle_timeout_seconds must be positive")
        for index, kind in self.faults.items():
            if kind is not None and kind not in FAULT_KINDS:
                raise ValueError(f"meter {index}: unknown fault {kind!r}; one of {FAULT_KINDS}")
        for kind, weight in (self.fault_mix or {}).items():
            if kind not in FAULT_KINDS or weight < 0:
                raise ValueError(f"fault_mix: {kind!r}={weight} (kinds: {FAULT_KINDS})")
        if self.fault_mix is not None and not any(self.fault_mix.values()):
            raise ValueError("fault_mix needs at least one positive weight")
        if self.addressing not in (IP_ADDRESSING, PORT_ADDRESSING):
            raise ValueError(f"addressing must be 'ip' or 'ports', got {self.addressing!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is not a TCP port")
        last_port = self.base_port + max(self.meters - 1, 0)
        if self.addressing == PORT_ADDRESSING and self.base_port and last_port > 65535:
            raise ValueError(
                f"ports {self.base_port}..{last_port} do not fit 1-65535; "
                "use ip addressing for large fleets"
            )
        if self.base_port < 0:
            raise ValueError(f"base_port must not be negative, got {self.base_port}")
        if self.addressing == IP_ADDRESSING and self.meters > MAX_IP_METERS:
            raise ValueError(f"ip addressing holds at most {MAX_IP_METERS} meters")

    def resolved(self) -> FleetConfig:
        """A copy with the time origins (and the freeze instant) fixed, to share across
        processes and to build several identical fleets from."""
        origins_fixed = self.sim_origin is not None and self.wall_origin is not None
        if origins_fixed and (not self.freeze_model or self.freeze_at is not None):
            return self
        clock = SimClock.starting(self.sim_origin, self.time_speed)
        sim_origin = self.sim_origin or utc(clock.sim_origin)
        wall_origin = self.wall_origin if self.wall_origin is not None else clock.wall_origin
        freeze_at = self.freeze_at
        if self.freeze_model and freeze_at is None:
            freeze_at = sim_origin
        return dataclasses.replace(
            self, sim_origin=sim_origin, wall_origin=wall_origin, freeze_at=freeze_at
        )

    def clock(self) -> SimClock:
        if self.sim_origin is None or self.wall_origin is None:
            return self.resolved().clock()
        return SimClock(unix(self.sim_origin), self.wall_origin, self.time_speed)

    def gap_for(self, fault: str | None) -> float:
        if fault == TOO_SOON:
            return max(self.min_gap_seconds, self.too_soon_gap_seconds)
        return self.min_gap_seconds


#: 127.0.0.0/24 is left alone, and .0/.255 last octets are skipped: 254 meters per /24.
PER_SUBNET = 254
MAX_IP_METERS = PER_SUBNET * (256 * 256 - 1)


def ip_for_index(index: int) -> str:
    """Meter i's loopback address: 127.0.1.1 is meter 0, 127.0.1.254 meter 253, then 127.0.2.1."""
    block = index // PER_SUBNET + 1
    return f"127.{block >> 8}.{block & 0xFF}.{index % PER_SUBNET + 1}"
