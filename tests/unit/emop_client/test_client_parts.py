"""Client pieces without a network: frame reading from a stream, drift, backoff, settings."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest

from dagster_project.emop.client import (
    MAX_GARBAGE_BYTES,
    ClientSettings,
    clock_drift_seconds,
    read_frame_bytes,
)
from dagster_project.emop.errors import FrameError, MeterConnectionError

BALANCE_RESPONSE = bytes.fromhex("7e150021ae42000018b00501ffc80200e093040021e1")


def read_from_chunks(chunks: list[bytes], eof: bool = True) -> bytes:
    async def run() -> bytes:
        reader = asyncio.StreamReader()
        for chunk in chunks:
            reader.feed_data(chunk)
        if eof:
            reader.feed_eof()
        return await read_frame_bytes(reader)

    return asyncio.run(run())


def test_frame_arriving_one_byte_at_a_time_is_read_whole() -> None:
    chunks = [BALANCE_RESPONSE[i : i + 1] for i in range(len(BALANCE_RESPONSE))]
    assert read_from_chunks(chunks) == BALANCE_RESPONSE


def test_only_one_frame_is_consumed_when_two_arrive_together() -> None:
    assert read_from_chunks([BALANCE_RESPONSE + BALANCE_RESPONSE]) == BALANCE_RESPONSE


def test_garbage_before_the_delimiter_is_skipped() -> None:
    assert read_from_chunks([b"\x00\x13AT+OK\r\n", BALANCE_RESPONSE]) == BALANCE_RESPONSE


def test_endless_garbage_is_a_frame_error_with_the_bytes() -> None:
    with pytest.raises(FrameError, match="no frame delimiter") as raised:
        read_from_chunks([b"\x01" * (MAX_GARBAGE_BYTES + 10)])
    assert raised.value.received is not None


def test_connection_closed_mid_frame_reports_what_arrived() -> None:
    with pytest.raises(MeterConnectionError, match="mid-frame after 10 bytes") as raised:
        read_from_chunks([BALANCE_RESPONSE[:10]])
    assert raised.value.received == BALANCE_RESPONSE[:10]
    assert BALANCE_RESPONSE[:10].hex() in str(raised.value)


def test_impossible_length_is_rejected_before_reading_on() -> None:
    with pytest.raises(FrameError, match="under the minimum"):
        read_from_chunks([b"\x7e\x05" + bytes(20)])


@pytest.mark.parametrize("drift", [-86400 * 2 - 61, -300, -1, 0, 1, 59, 3600, 86400 + 5])
@pytest.mark.parametrize("latency_ms", [0, 40, 1900])
def test_drift_is_signed_whole_seconds_with_days(drift: int, latency_ms: int) -> None:
    sent = datetime(2026, 3, 29, 0, 59, 58, 250_000, tzinfo=UTC)
    received = sent + timedelta(milliseconds=latency_ms)
    # The meter reads its clock at the midpoint and truncates to the second.
    true_meter_time = sent + (received - sent) / 2 + timedelta(seconds=drift)
    reported = true_meter_time.replace(microsecond=0)
    assert clock_drift_seconds(reported, sent, received) == drift


def test_backoff_grows_is_capped_and_jittered() -> None:
    settings = ClientSettings(backoff_base_seconds=1, backoff_max_seconds=4, backoff_jitter=0.5)
    rng = random.Random(1)
    waits = {attempt: [settings.backoff(attempt, rng) for _ in range(200)] for attempt in (1, 2, 5)}
    assert all(0.5 <= wait <= 1.5 for wait in waits[1])
    assert all(1.0 <= wait <= 3.0 for wait in waits[2])
    assert all(2.0 <= wait <= 6.0 for wait in waits[5])
    assert len({round(wait, 6) for wait in waits[1]}) > 100


@pytest.mark.parametrize(
    "bad",
    [
        {"attempts": 0},
        {"timeout_seconds": 0},
        {"min_gap_seconds": -1},
        {"max_concurrent_meters": 0},
        {"max_consecutive_naks": 0},
    ],
)
def test_settings_refuse_nonsense(bad: dict) -> None:
    with pytest.raises(ValueError):
        ClientSettings(**bad)
