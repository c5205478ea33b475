"""The facts the energy checks judge: how complete a UK day's half-hours are across the fleet,
and which half-hours or registers a validation rule flagged. The warehouse fills them
(warehouse/energy_health.py); rules/energy_rules.py judges them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

UK = ZoneInfo("Europe/London")


def uk_day_half_hours(day: date) -> int:
    """The half-hours in a UK day: 48, but 46 on the day the clocks go forward and 50 on the
    day they go back."""
    start = datetime.combine(day, time(), UK).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), UK).astimezone(UTC)
    return int((end - start).total_seconds()) // 1800


def uk_yesterday(now: datetime) -> date:
    """The UK day before the one `now` (aware) falls in."""
    return now.astimezone(UK).date() - timedelta(days=1)


def uk_day_start(day: date) -> datetime:
    """The UTC instant a UK day starts at."""
    return datetime.combine(day, time(), UK).astimezone(UTC)


@dataclass(frozen=True)
class DayCompleteness:
    day: date
    #: Half-hours the day has (46, 48 or 50) times the registers that should have them.
    expected: int
    actual: int
    estimated: int
    #: Registers short of half-hours: (serial, element, half-hours known of expected), worst first.
    short: list[tuple[str, str, int, int]]

    @property
    def share(self) -> float:
        """Share of the expected half-hours with a value (actual or estimated)."""
        return (self.actual + self.estimated) / self.expected if self.expected else 1.0


@dataclass(frozen=True)
class FlaggedHalfHour:
    serial: str
    element: str
    #: The half-hour's start, UTC.
    half_hour: datetime
    #: The consumption as read (None when it is not kept, e.g. a negative one).
    import_kwh: Decimal | None
    rules: list[str]


@dataclass(frozen=True)
class ZeroRegister:
    serial: str
    element: str
    zero_days: int
    last_contact_at: datetime | None
