"""Caps on simultaneous connections to a group of meters (an ESCO's), and the order in which a
fleet read hands meters to its workers under those caps.

A `ConnectionSlots` hands out slots per group; every reader that shares one (the runs of a
fanned-out sync share one in PostgreSQL, warehouse/connection_leases.py) stays within the same
cap. `MeterQueue` gives a fleet read's workers their next meter together with a slot of its group:
a meter whose group is full waits aside while the workers go on with other groups' meters, so
one ESCO at its cap never holds up the rest of the fleet, and a worker that finishes a meter
passes its slot straight on to the next waiting meter of the same group.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

M = TypeVar("M", bound=Hashable)


@dataclass(frozen=True)
class Slot:
    """One connection's worth of a group's cap, held while one meter is read."""

    group: str
    number: int


class ConnectionSlots(Protocol):
    """Slots per group of meters, shared by every reader that should stay within one cap."""

    async def try_take(self, group: str) -> Slot | None:
        """A free slot of `group`, or None when all of its slots are in use."""
        ...

    async def give_back(self, slot: Slot) -> None: ...


class LocalConnectionSlots:
    """Slots counted in this process: for readers sharing one event loop, and for tests."""

    def __init__(self, limits: Mapping[str, int], default: int | None = None) -> None:
        for group, limit in [*limits.items(), ("the default", default)]:
            if limit is not None and limit < 1:
                raise ValueError(f"connection limit of {group} must be at least 1, not {limit}")
        self._limits = dict(limits)
        self._default = default
        self._free: dict[str, list[int]] = {}

    def limit_of(self, group: str) -> int | None:
        return self._limits.get(group, self._default)

    async def try_take(self, group: str) -> Slot | None:
        limit = self.limit_of(group)
        if limit is None:
            return Slot(group, -1)
        free = self._free.setdefault(group, list(range(limit - 1, -1, -1)))
        return Slot(group, free.pop()) if free else None

    async def give_back(self, slot: Slot) -> None:
        if slot.number >= 0:
            self._free[slot.group].append(slot.number)


class MeterQueue(Generic[M]):
    """The meters of one fleet read, handed to its workers each with a slot of its group.

    Meters of no group (`group_of` gives None) need no slot. A group found full is not asked
    again for each of its meters: they wait aside until a worker of this read hands over its
    slot, or until the next look every `recheck_seconds`, when slots freed by other readers
    are taken up. A slot passes from meter to meter at most `max_handovers` times before it
    goes back, so that other readers waiting for the group get their turn.
    """

    def __init__(
        self,
        meters: Iterable[M],
        group_of: Callable[[M], str | None],
        slots: ConnectionSlots,
        recheck_seconds: float = 1.0,
        max_handovers: int = 10,
    ) -> None:
        self._todo: deque[M] = deque(dict.fromkeys(meters))
        self._group_of = group_of
        self._slots = slots
        self._recheck_seconds = recheck_seconds
        #: meters whose group was full, by group, in the order they came
        self._waiting: dict[str, deque[M]] = defaultdict(deque)
        #: meters handed a slot by a finished worker, for the next free worker
        self._ready: deque[tuple[M, Slot | None]] = deque()
        self._max_handovers = max_handovers
        #: times each slot held by this read has passed from one meter to the next
        self._handovers: dict[Slot, int] = {}
        self._changed = asyncio.Event()
        self._rechecking = False
        self._next_recheck: float | None = None

    @property
    def waiting(self) -> int:
        return sum(len(meters) for meters in self._waiting.values())

    async def next(self) -> tuple[M, Slot | None] | None:
        """The next meter to read with its slot, or None once no meter is left to start."""
        while True:
            if self._ready:
                return self._ready.popleft()
            if self._todo:
                meter = self._todo.popleft()
                group = self._group_of(meter)
                if group is None:
                    return meter, None
                if not self._waiting[group]:
                    slot = await self._slots.try_take(group)
                    if slot is not None:
                        return meter, slot
                self._waiting[group].append(meter)
                continue
            if not self.waiting:
                return None
            await self._wait_for_a_slot()

    async def finished(self, slot: Slot | None) -> None:
        """A worker is done with a meter: its slot goes to the next waiting meter of its group,
        or back to the slots."""
        if slot is None:
            return
        waiting = self._waiting.get(slot.group)
        passed = self._handovers.pop(slot, 0)
        if waiting and passed < self._max_handovers:
            self._handovers[slot] = passed + 1
            self._ready.append((waiting.popleft(), slot))
            self._changed.set()
        else:
            await self._slots.give_back(slot)

    async def give_back_unused(self) -> None:
        """Give back the slots handed to meters no worker started (the read was stopped)."""
        while self._ready:
            _, slot = self._ready.popleft()
            if slot is not None:
                self._handovers.pop(slot, None)
                await self._slots.give_back(slot)

    async def _wait_for_a_slot(self) -> None:
        """Only meters of full groups are left: wait for a hand-over, or look again for slots
        freed elsewhere (one worker looks; the others wait for what it finds). The looks keep
        to their own beat: hand-overs in a busy group do not put them off."""
        if self._rechecking:
            self._changed.clear()
            await self._changed.wait()
            return
        self._rechecking = True
        try:
            self._changed.clear()
            now = asyncio.get_running_loop().time()
            if self._next_recheck is None:
                self._next_recheck = now + self._recheck_seconds
            if self._next_recheck > now:
                try:
                    async with asyncio.timeout(self._next_recheck - now):
                        await self._changed.wait()
                    return  # a hand-over: take it; the next look stays when it was due
                except TimeoutError:
                    pass
            await self._take_freed_slots()
            self._next_recheck = asyncio.get_running_loop().time() + self._recheck_seconds
        finally:
            self._rechecking = False
            self._changed.set()

    async def _take_freed_slots(self) -> None:
        for group, meters in list(self._waiting.items()):
            while meters:
                slot = await self._slots.try_take(group)
                if slot is None:
                    break
                self._ready.append((meters.popleft(), slot))
