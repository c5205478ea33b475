"""Putting requested tariffs on meters: which request a meter gets next, the activation time as
that meter reads it, whether what it holds matches, and when a failed push is tried again.

A meter holds one future tariff set. The latest request for a meter is therefore the one it
should hold: an older request that has not reached the meter is superseded at once, and one the
meter holds but has not yet activated is superseded once the newer one is written over it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from dagster_project.domain.registry import departure_reason
from dagster_project.emop.tariffs import Tariff

UK_TIME = ZoneInfo("Europe/London")

VERIFIED = "verified"
SENT = "sent"
FAILED = "failed"
SUPERSEDED = "superseded"
#: Not an attempt's outcome: the status of a change whose meter left the registry or was
#: deleted there before the change reached it (recorded with the covered meter).
CANCELLED = "cancelled"

#: A single-rate meter has no element B register, so its element B rate never charges anything;
#: zero says so plainly on the meter and in the read-back.
SINGLE_RATE_ELEMENT_B = Decimal(0)


@dataclass(frozen=True)
class WriteRetryPolicy:
    """How often a meter write that did not succeed is tried again, and when to give up."""

    max_attempts: int = 10
    #: The wait after the first failure; it doubles after each further one.
    first_wait: timedelta = timedelta(minutes=15)
    longest_wait: timedelta = timedelta(hours=6)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.first_wait <= timedelta(0) or self.longest_wait < self.first_wait:
            raise ValueError("waits must be positive, the longest at least the first")

    def next_attempt_after(self, attempt: int, finished_at: datetime) -> datetime | None:
        """When attempt number `attempt + 1` may run; None when `attempt` was the last one."""
        if attempt >= self.max_attempts:
            return None
        wait = min(self.longest_wait, self.first_wait * 2 ** (attempt - 1))
        return finished_at + wait


@dataclass(frozen=True)
class TariffChange:
    """One request as it concerns one meter, with the outcome of its attempts so far."""

    request_id: uuid.UUID
    meter_id: uuid.UUID
    serial: str
    requested_at: datetime
    activation_at: datetime
    #: The requested money fields; element B is None for single-rate meters.
    standing_charge: Decimal
    unit_rate_element_a: Decimal
    unit_rate_element_b: Decimal | None
    prepayment_ecredit_availability: Decimal
    prepayment_debt_recovery_rate: Decimal
    prepayment_emergency_credit: Decimal
    attempts: int = 0
    last_outcome: str | None = None
    next_attempt_after: datetime | None = None
    flagged: bool = False

    @property
    def finished(self) -> bool:
        """Nothing more will be attempted: verified, superseded or given up on."""
        return self.flagged or self.last_outcome in (VERIFIED, SUPERSEDED)

    def due(self, now: datetime) -> bool:
        if self.finished:
            return False
        return self.next_attempt_after is None or self.next_attempt_after <= now

    def order(self) -> tuple[datetime, str]:
        return self.requested_at, str(self.request_id)


@dataclass(frozen=True)
class MeterPlan:
    """What the write path does with one meter's tariff changes in this run."""

    #: The change to push now, if one is due.
    push: TariffChange | None
    #: Changes that will never reach the meter: a later request replaced them.
    superseded: tuple[TariffChange, ...]
    #: Changes the meter holds, not yet active, that the push will replace once it is written.
    displaced: tuple[TariffChange, ...]
    #: The change the others give way to (the meter's latest request).
    latest: TariffChange | None


def plan_meter(changes: list[TariffChange], now: datetime) -> MeterPlan:
    """Decide one meter's push: its latest live request wins (see the module docstring)."""
    live = [c for c in changes if c.last_outcome != SUPERSEDED and not c.flagged]
    if not live:
        return MeterPlan(None, (), (), None)
    latest = max(live, key=TariffChange.order)
    older = [c for c in live if c is not latest]
    superseded = tuple(c for c in older if c.last_outcome != VERIFIED)
    if latest.finished:
        return MeterPlan(None, superseded, (), latest)
    displaced = tuple(c for c in older if c.last_outcome == VERIFIED and c.activation_at > now)
    return MeterPlan(latest if latest.due(now) else None, superseded, displaced, latest)


@dataclass(frozen=True)
class Cancellation:
    """A change that will never be pushed because its meter is gone, and why."""

    request_id: uuid.UUID
    meter_id: uuid.UUID
    serial: str
    reason: str


def cancellations(
    changes: Iterable[TariffChange], registry: Mapping[uuid.UUID, str | None]
) -> list[Cancellation]:
    """The unfinished changes whose meter is gone. `registry` maps each registry meter's id to
    its installation_status; a change is matched to its meter by id, as the write path does."""
    out = []
    for change in changes:
        if change.finished:
            continue  # verified, superseded and given-up changes keep their own ending
        registered = change.meter_id in registry
        reason = departure_reason(change.serial, registered, registry.get(change.meter_id))
        if reason is not None:
            out.append(Cancellation(change.request_id, change.meter_id, change.serial, reason))
    return out


def meter_wall_time(activation_at: datetime, dst_enabled: bool) -> datetime:
    """The activation as the meter's clock shows it: UK local time on a meter that applies
    daylight saving, UTC on one that does not. Naive, as the meter holds it."""
    zone = UK_TIME if dst_enabled else UTC
    return activation_at.astimezone(zone).replace(tzinfo=None)


def tariff_for_meter(change: TariffChange, dst_enabled: bool) -> Tariff:
    """The future set to write to this meter."""
    element_b = change.unit_rate_element_b
    return Tariff(
        standing_charge=change.standing_charge,
        unit_rate_element_a=change.unit_rate_element_a,
        unit_rate_element_b=SINGLE_RATE_ELEMENT_B if element_b is None else element_b,
        prepayment_ecredit_availability=change.prepayment_ecredit_availability,
        prepayment_debt_recovery_rate=change.prepayment_debt_recovery_rate,
        prepayment_emergency_credit=change.prepayment_emergency_credit,
        activation_datetime=meter_wall_time(change.activation_at, dst_enabled),
    )


def read_back_differences(wanted: Tariff, held: Tariff | None) -> list[str]:
    """Each field where the meter's future set differs from the one wanted, as readable text."""
    if held is None:
        return ["the meter holds no future tariff (activation time 0)"]
    differences = []
    for name in (field.name for field in fields(Tariff)):
        want, have = getattr(wanted, name), getattr(held, name)
        if want != have:
            differences.append(f"{name}: wanted {_text(want)}, meter holds {_text(have)}")
    return differences


def _text(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


@dataclass(frozen=True)
class PushAttempt:
    """One row of flows_raw.tariff_push_log."""

    request_id: uuid.UUID
    meter_id: uuid.UUID
    serial: str
    attempt: int
    started_at: datetime
    finished_at: datetime
    outcome: str
    dst_enabled: bool | None = None
    meter_activation: datetime | None = None
    written_at: datetime | None = None
    read_back: Tariff | None = None
    reason: str | None = None
    next_attempt_after: datetime | None = None
    flagged: bool = False
    run_id: str | None = None


def settle(attempt: PushAttempt, policy: WriteRetryPolicy) -> PushAttempt:
    """Fill in when a push that did not verify is tried again, or flag it as given up."""
    if attempt.outcome not in (SENT, FAILED):
        return attempt
    after = policy.next_attempt_after(attempt.attempt, attempt.finished_at)
    if after is None:
        reason = f"{attempt.reason}; gave up after {attempt.attempt} attempts"
        return replace(attempt, next_attempt_after=None, flagged=True, reason=reason)
    return replace(attempt, next_attempt_after=after)


def superseded_attempt(
    change: TariffChange, by: TariffChange, now: datetime, run_id: str | None
) -> PushAttempt:
    return PushAttempt(
        request_id=change.request_id,
        meter_id=change.meter_id,
        serial=change.serial,
        attempt=change.attempts + 1,
        started_at=now,
        finished_at=now,
        outcome=SUPERSEDED,
        reason=(
            f"superseded by request {by.request_id} (requested "
            f"{by.requested_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z): a meter holds one future "
            "tariff, the latest request's"
        ),
        run_id=run_id,
    )
