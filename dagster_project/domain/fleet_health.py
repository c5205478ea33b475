"""The facts the fleet-health checks judge, one type per question: which meters drift, lose
signal, fail, disagree with the registry, or answer as another meter. The warehouse fills
them (warehouse/fleet_health.py, warehouse/identity_store.py); rules/fleet_rules.py judges them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class ClockDrift:
    serial: str
    drift_seconds: int
    measured_at: datetime
    #: The first reading of the current run of readings at or over the threshold.
    since: datetime


@dataclass(frozen=True)
class SignalDrop:
    serial: str
    csq: int
    median_csq: float | None
    #: When the meter's CSQ took its current value.
    since: datetime | None


@dataclass(frozen=True)
class SyncOutcome:
    #: One sync per bucket the run read.
    sync_ids: list[uuid.UUID]
    finished_at: datetime
    attempted: int
    failed: int
    #: (serial, error class) of every failed meter.
    failures: list[tuple[str, str | None]]


@dataclass(frozen=True)
class FlagDisagreement:
    """A flag the registry file sets one way and the meter reports the other."""

    serial: str
    flag: str
    registry_value: bool
    meter_value: bool
    reported_at: datetime


@dataclass(frozen=True)
class BalanceRise:
    serial: str
    at: datetime
    previous_at: datetime
    previous_balance: Decimal
    balance: Decimal
    has_top_up_event: bool
    #: The meter's logs were downloaded after this rise, so a missing event means something.
    logs_cover_it: bool


@dataclass(frozen=True)
class BalanceBelowFloor:
    serial: str
    balance: Decimal
    emergency_credit: Decimal
    since: datetime | None


@dataclass(frozen=True)
class IdentityMismatch:
    meter_id: uuid.UUID
    serial: str
    #: The latest mismatch's message: the address and both serials.
    message: str
    first_seen: datetime
    last_seen: datetime
