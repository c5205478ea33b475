"""Simulated time: a wall-clock to simulated-clock mapping, and the half-hour step grid."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

#: Unix seconds of the EMOP epoch, 2000-01-01T00:00:00Z.
EMOP_EPOCH_UNIX = 946_684_800
STEP_SECONDS = 1800
DAY_SECONDS = 86_400


def unix(moment: datetime) -> float:
    """Unix seconds of an aware datetime (naive is refused: simulated time is UTC)."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; simulated time is UTC")
    return moment.timestamp()


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True)
class SimClock:
    """Simulated time = sim_origin + (wall time - wall_origin) x speed.

    `speed` > 1 runs faster than wall time. Both origins are plain unix seconds so the clock
    pickles into worker processes and every process of a fleet agrees on the simulated time.
    """

    sim_origin: float
    wall_origin: float
    speed: float = 1.0

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"time speed must be positive, got {self.speed}")

    @classmethod
    def starting(cls, sim_origin: datetime | None = None, speed: float = 1.0) -> SimClock:
        """A clock whose simulated time is `sim_origin` (default: now) at this wall instant."""
        wall = time.time()
        origin = wall if sim_origin is None else unix(sim_origin)
        return cls(sim_origin=float(int(origin)), wall_origin=wall, speed=speed)

    def sim_seconds(self, wall: float | None = None) -> float:
        if wall is None:
            wall = time.time()
        return self.sim_origin + (wall - self.wall_origin) * self.speed

    def now(self) -> datetime:
        return utc(self.sim_seconds())


def floor_day(seconds: float) -> int:
    return int(seconds // DAY_SECONDS) * DAY_SECONDS
