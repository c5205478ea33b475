"""The split of the fleet into hash buckets, and when a fanned-out cycle is complete."""

import uuid

import pytest

from dagster_project.domain.fleet_buckets import (
    Bucket,
    BucketConfigError,
    BucketRun,
    bucket_keys,
    bucket_sizes,
    buckets,
    newest_complete_cycle,
    parse_bucket_key,
    split_by_bucket,
)

IDS = [uuid.UUID(int=n * 7919 + 13) for n in range(1000)]


def test_every_meter_is_in_exactly_one_bucket() -> None:
    all_buckets = buckets(16)
    for meter_id in IDS[:200]:
        assert sum(bucket.holds(meter_id) for bucket in all_buckets) == 1


def test_a_meter_keeps_its_bucket_when_others_come_and_go() -> None:
    before = split_by_bucket(IDS, lambda i: i, buckets(8))
    after = split_by_bucket(IDS[::3] + [uuid.uuid4() for _ in range(50)], lambda i: i, buckets(8))
    for bucket, members in after.items():
        assert set(members) & set(IDS) <= set(before[bucket])


def test_random_registry_ids_spread_evenly() -> None:
    sizes = bucket_sizes((uuid.uuid4() for _ in range(100_000)), 16)
    assert sum(sizes) == 100_000
    # Binomial spread: 6,250 +- about 4 standard deviations (75 each).
    assert max(sizes) < 6_550 and min(sizes) > 5_950


def test_split_keeps_only_the_wanted_buckets_in_registry_order() -> None:
    wanted = [Bucket(1, 4), Bucket(3, 4)]
    split = split_by_bucket(IDS, lambda i: i, wanted)
    assert list(split) == wanted
    assert all(m.int % 4 == 1 for m in split[Bucket(1, 4)])
    assert all(m.int % 4 == 3 for m in split[Bucket(3, 4)])
    assert split[Bucket(1, 4)] == [m for m in IDS if m.int % 4 == 1]


def test_buckets_of_two_splits_are_refused() -> None:
    with pytest.raises(BucketConfigError, match="different splits"):
        split_by_bucket(IDS, lambda i: i, [Bucket(0, 4), Bucket(0, 8)])


def test_keys_name_the_split_and_parse_back() -> None:
    assert bucket_keys(3) == ["00-of-03", "01-of-03", "02-of-03"]
    assert parse_bucket_key("07-of-16") == Bucket(7, 16)
    for bad in ("7", "16-of-16", "a-of-4", "03-of-"):
        with pytest.raises(BucketConfigError, match=bad):
            parse_bucket_key(bad)


KEYS = ["00-of-02", "01-of-02"]
T1, T2 = "2026-11-27T10:00:00+00:00", "2026-11-27T10:15:00+00:00"


def test_a_cycle_is_complete_once_every_bucket_has_finished() -> None:
    runs = [BucketRun(T1, KEYS[0], True), BucketRun(T1, KEYS[1], False)]
    assert newest_complete_cycle(runs, KEYS, after=None) is None
    runs[1] = BucketRun(T1, KEYS[1], True)
    assert newest_complete_cycle(runs, KEYS, after=None) == T1


def test_the_newest_complete_cycle_wins_and_built_ones_are_not_built_again() -> None:
    runs = [BucketRun(cycle, key, True) for cycle in (T1, T2) for key in KEYS]
    assert newest_complete_cycle(runs, KEYS, after=None) == T2
    assert newest_complete_cycle(runs, KEYS, after=T2) is None
    # An older cycle finishing late is not built after a newer one was.
    assert newest_complete_cycle(runs[:2], KEYS, after=T2) is None


def test_a_retried_bucket_counts_once_one_of_its_runs_finished() -> None:
    runs = [
        BucketRun(T1, KEYS[0], True),
        BucketRun(T1, KEYS[1], True),  # failed, then retried by hand:
        BucketRun(T1, KEYS[1], False),
    ]
    assert newest_complete_cycle(runs, KEYS, after=None) == T1


def test_no_wanted_bucket_means_an_empty_split() -> None:
    assert split_by_bucket(IDS, lambda i: i, []) == {}
