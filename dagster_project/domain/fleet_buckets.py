"""The fleet split into hash buckets of meters, so that a sync fans out over run workers.

A meter's bucket follows from its registry id alone, so it stays put while meters are added or
removed, and every worker works out its own share from the registry without coordinating.
The number of buckets is a deployment setting: changing it reshuffles every meter, and the
partitions of the old count stay in the UI's history under their own keys.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

#: Enough for a couple of workers on one machine; a large fleet sets more (README "Scale-out").
#: The count is a deployment setting (settings.py, FLOWS_SYNC_BUCKETS).
DEFAULT_BUCKETS = 4
MAX_BUCKETS = 256

#: Run tags: the bucket a run syncs, and the 15-minute cycle a fanned-out run belongs to.
BUCKET_TAG = "flows/bucket"
CYCLE_TAG = "flows/cycle"
#: Dagster's run tags for a run over a range of partitions (as a single-run backfill sets them).
BUCKET_RANGE_START_TAG = "dagster/asset_partition_range_start"
BUCKET_RANGE_END_TAG = "dagster/asset_partition_range_end"


class BucketConfigError(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Bucket:
    index: int
    count: int

    @property
    def key(self) -> str:
        """The partition key, e.g. `03-of-16`: it says which split the bucket belongs to."""
        return f"{self.index:02d}-of-{self.count:02d}"

    def holds(self, meter_id: uuid.UUID) -> bool:
        return bucket_index(meter_id, self.count) == self.index


def bucket_index(meter_id: uuid.UUID, count: int) -> int:
    # Registry ids are random UUIDs, so their integer value spreads evenly over any count.
    return meter_id.int % count


def buckets(count: int) -> list[Bucket]:
    return [Bucket(index, count) for index in range(count)]


def bucket_keys(count: int) -> list[str]:
    return [bucket.key for bucket in buckets(count)]


def parse_bucket_key(key: str) -> Bucket:
    index, sep, count = key.partition("-of-")
    try:
        bucket = Bucket(int(index), int(count))
    except ValueError:
        bucket = None
    if not sep or bucket is None or not 0 <= bucket.index < bucket.count:
        raise BucketConfigError(f"{key!r} is not a bucket key like 03-of-16")
    return bucket


T = TypeVar("T")


def split_by_bucket(
    items: Iterable[T], meter_id_of: Callable[[T], uuid.UUID], wanted: Sequence[Bucket]
) -> dict[Bucket, list[T]]:
    """The items of the wanted buckets, each under its bucket; items of other buckets dropped."""
    if len({bucket.count for bucket in wanted}) > 1:
        raise BucketConfigError(f"buckets of different splits: {sorted(b.key for b in wanted)}")
    split: dict[Bucket, list[T]] = {bucket: [] for bucket in wanted}
    if not wanted:
        return split
    by_index = {bucket.index: bucket for bucket in wanted}
    count = wanted[0].count
    for item in items:
        bucket = by_index.get(bucket_index(meter_id_of(item), count))
        if bucket is not None:
            split[bucket].append(item)
    return split


def bucket_sizes(meter_ids: Iterable[uuid.UUID], count: int) -> list[int]:
    """How many of the meters fall in each bucket, by bucket index."""
    sizes = Counter(bucket_index(meter_id, count) for meter_id in meter_ids)
    return [sizes.get(index, 0) for index in range(count)]


@dataclass(frozen=True)
class BucketRun:
    """A run of one bucket of a fanned-out cycle, as the transform sensor sees it."""

    cycle: str
    bucket: str
    finished: bool


def newest_complete_cycle(
    runs: Iterable[BucketRun], bucket_keys_expected: Sequence[str], after: str | None
) -> str | None:
    """The newest cycle, later than `after`, whose every bucket has a finished run.

    Cycles are ISO timestamps, so they sort as strings. A bucket run still queued or running
    keeps its cycle waiting; an older cycle completing after a newer one is not built again,
    since the newer build has read its snapshots too. A bucket retried by hand within a cycle
    counts once it has one finished run."""
    finished: dict[str, set[str]] = {}
    for run in runs:
        if run.finished:
            finished.setdefault(run.cycle, set()).add(run.bucket)
    complete = [
        cycle
        for cycle, done in finished.items()
        if done >= set(bucket_keys_expected) and (after is None or cycle > after)
    ]
    return max(complete, default=None)
