"""Connection slots per group of meters and the queue that hands meters to a fleet read's
workers: plain asyncio, with work that only sleeps."""

from __future__ import annotations

import asyncio
import math
from collections import Counter

import pytest

from dagster_project.emop.client import EmopClient
from dagster_project.emop.connection_slots import LocalConnectionSlots, MeterQueue, Slot
from dagster_project.emop.state import MeterEndpoint


class Tally:
    """How many meters of each group are being read at once, and the most ever."""

    def __init__(self) -> None:
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.order: list[str] = []

    async def read(self, meter: str, seconds: float) -> None:
        group = meter.split("-")[0]
        self.now[group] += 1
        self.peak[group] = max(self.peak[group], self.now[group])
        await asyncio.sleep(seconds)
        self.now[group] -= 1
        self.order.append(meter)


async def drain(queue: MeterQueue[str], tally: Tally, workers: int, seconds) -> None:
    async def worker() -> None:
        while (item := await queue.next()) is not None:
            meter, slot = item
            try:
                await tally.read(meter, seconds(meter))
            finally:
                await queue.finished(slot)

    await asyncio.gather(*(worker() for _ in range(workers)))


def group_of(meter: str) -> str | None:
    group = meter.split("-")[0]
    return None if group == "free" else group


def test_local_slots_count_per_group_and_a_group_without_limit_is_never_full() -> None:
    async def run() -> tuple[list[Slot | None], Slot | None]:
        slots = LocalConnectionSlots({"a": 2})
        taken = [await slots.try_take("a") for _ in range(3)]
        assert taken[0] is not None
        await slots.give_back(taken[0])
        return taken, await slots.try_take("b")

    taken, unlimited = asyncio.run(run())
    assert [slot and slot.number for slot in taken] == [0, 1, None]
    assert unlimited is not None


def test_a_limit_below_one_is_refused_naming_the_group() -> None:
    with pytest.raises(ValueError, match=r"esco-7.*0"):
        LocalConnectionSlots({"esco-7": 0})
    with pytest.raises(ValueError, match=r"default.*-1"):
        LocalConnectionSlots({}, default=-1)


def test_a_group_never_has_more_meters_in_progress_than_its_slots() -> None:
    meters = [f"a-{i}" for i in range(12)] + [f"b-{i}" for i in range(6)]
    tally = Tally()
    queue = MeterQueue(meters, group_of, LocalConnectionSlots({"a": 2, "b": 3}))
    asyncio.run(drain(queue, tally, workers=10, seconds=lambda meter: 0.01))
    assert sorted(tally.order) == sorted(meters)
    assert tally.peak == {"a": 2, "b": 3}


def test_a_full_group_does_not_hold_up_the_other_groups() -> None:
    # Four workers, a slow group of one slot first in line: without setting its meters aside,
    # the workers would queue behind it and the quick group would finish last.
    meters = [f"slow-{i}" for i in range(4)] + [f"quick-{i}" for i in range(8)]
    tally = Tally()
    queue = MeterQueue(meters, group_of, LocalConnectionSlots({"slow": 1}))
    asyncio.run(
        drain(queue, tally, workers=4, seconds=lambda m: 0.05 if m.startswith("slow") else 0.001)
    )
    assert tally.peak["slow"] == 1
    assert sorted(tally.order[:8]) == sorted(f"quick-{i}" for i in range(8))
    assert tally.order[8:] == [f"slow-{i}" for i in range(4)]


def test_meters_without_a_group_take_no_slot() -> None:
    meters = [f"free-{i}" for i in range(6)]
    tally = Tally()
    queue = MeterQueue(meters, group_of, LocalConnectionSlots({}, default=1))
    asyncio.run(drain(queue, tally, workers=6, seconds=lambda meter: 0.01))
    assert tally.peak["free"] == 6


def test_two_readers_sharing_slots_stay_within_one_cap_together() -> None:
    slots = LocalConnectionSlots({}, default=3)
    tally = Tally()

    async def run() -> None:
        first = MeterQueue([f"a-{i}" for i in range(10)], group_of, slots, recheck_seconds=0.01)
        second = MeterQueue([f"a-{i}" for i in range(10, 20)], group_of, slots, 0.01)
        await asyncio.gather(
            drain(first, tally, 5, lambda m: 0.01), drain(second, tally, 5, lambda m: 0.01)
        )

    asyncio.run(run())
    assert tally.peak["a"] == 3
    assert len(tally.order) == 20


def test_slots_freed_by_another_reader_are_taken_up_at_the_next_look() -> None:
    slots = LocalConnectionSlots({"a": 1})
    tally = Tally()

    async def run() -> None:
        held = await slots.try_take("a")
        assert held is not None
        queue = MeterQueue(["a-0", "a-1"], group_of, slots, recheck_seconds=0.02)
        reading = asyncio.ensure_future(drain(queue, tally, 2, lambda m: 0.0))
        await asyncio.sleep(0.1)
        assert tally.order == [] and queue.waiting == 2
        await slots.give_back(held)
        await reading

    asyncio.run(run())
    assert tally.order == ["a-0", "a-1"]
    assert tally.peak["a"] == 1


class BrokenSlots:
    """Slots whose store went away (the database, say)."""

    async def try_take(self, group: str) -> Slot | None:
        raise ConnectionError(f"slots of {group}: database gone")

    async def give_back(self, slot: Slot) -> None:
        raise AssertionError("nothing was taken")


@pytest.mark.parametrize("how", ["read_fleet", "for_each_meter"])
def test_a_fleet_read_whose_slots_fail_raises_instead_of_waiting_forever(how: str) -> None:
    meters = [
        MeterEndpoint(host="127.0.0.1", port=1, serial=f"EML00000000{i:02d}") for i in range(3)
    ]

    async def run() -> None:
        async with EmopClient(slots=BrokenSlots()) as client:
            async with asyncio.timeout(10):
                if how == "read_fleet":
                    await client.read_fleet(meters, group_of=lambda meter: "esco-a")
                else:
                    await client.for_each_meter(meters, client.read_state, lambda m: "esco-a")

    with pytest.raises(ConnectionError, match="esco-a: database gone"):
        asyncio.run(run())


def test_hand_overs_in_a_busy_group_do_not_put_off_the_look_for_slots_freed_elsewhere() -> None:
    # Another reader holds a's only slot and frees it while this read's b meters pass their one
    # slot on every 20 ms. The look for freed slots must still come on its 50 ms beat, not once
    # b's hand-overs stop. Counted in b meters started rather than in seconds: a loaded machine
    # stretches the beat and the reads alike, and b cannot start more than one meter per read.
    recheck_seconds, read_seconds = 0.05, 0.02
    slots = LocalConnectionSlots({"a": 1, "b": 1})
    tally = Tally()
    starts: list[str] = []

    async def run() -> None:
        held = await slots.try_take("a")
        assert held is not None
        meters = ["a-0"] + [f"b-{i}" for i in range(30)]
        queue = MeterQueue(meters, group_of, slots, recheck_seconds, max_handovers=100)
        handing_over = asyncio.Event()

        def seconds(meter: str) -> float:
            starts.append(meter)
            if meter == "b-2":  # b's slot has been handed over twice: the busy group is busy
                handing_over.set()
            return read_seconds

        reading = asyncio.ensure_future(drain(queue, tally, 4, seconds))
        await handing_over.wait()
        await slots.give_back(held)
        starts.append("a freed")
        await reading

    asyncio.run(run())
    after_freeing = starts[starts.index("a freed") + 1 :]
    # The next look is due within one beat of the freeing, when b has started at most
    # beat / read meters more (and one more may be handed over as the look hands out a-0).
    most = math.ceil(recheck_seconds / read_seconds) + 1
    assert after_freeing.index("a-0") <= most, after_freeing
    assert len(after_freeing) > most + 10  # b went on handing over long after


def test_a_slot_goes_back_after_its_hand_overs_so_other_readers_get_a_turn() -> None:
    slots = LocalConnectionSlots({"a": 1})
    tally = Tally()

    async def run() -> None:
        busy = MeterQueue([f"a-{i}" for i in range(12)], group_of, slots, 0.01, max_handovers=2)
        reading = asyncio.ensure_future(drain(busy, tally, 2, lambda m: 0.01))
        await asyncio.sleep(0.005)  # the busy reader holds the slot now
        other = MeterQueue(["a-other"], group_of, slots, recheck_seconds=0.01)
        await asyncio.gather(reading, drain(other, tally, 1, lambda m: 0.01))

    asyncio.run(run())
    assert tally.peak["a"] == 1
    assert tally.order.index("a-other") < 12  # not after all of the busy reader's meters
