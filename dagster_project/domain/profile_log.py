"""What a day's profile-log records become before they land: one record per timestamp.

A meter should send each half-hour's record once. Should it send a timestamp twice, identical
copies are one record; copies that disagree keep the first and say so (`conflicting`), so the
energy rules can doubt the half-hours that read relies on instead of the load failing on the
table's key or silently picking a value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar


class _Timestamped(Protocol):
    @property
    def timestamp(self) -> datetime: ...


R = TypeVar("R", bound=_Timestamped)


@dataclass(frozen=True)
class DistinctRecord(Generic[R]):
    record: R
    #: Another record with this timestamp said something else.
    conflicting: bool = False


def distinct_records(records: Iterable[R]) -> list[DistinctRecord[R]]:
    """The records in their order, the first of each timestamp only."""
    first: dict[datetime, R] = {}
    conflicting: set[datetime] = set()
    for record in records:
        seen = first.setdefault(record.timestamp, record)
        if seen != record:
            conflicting.add(record.timestamp)
    return [DistinctRecord(r, r.timestamp in conflicting) for r in first.values()]
