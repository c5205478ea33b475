"""Alert episodes, the cursor that remembers them, and the notifiers, without a database."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dagster_project.domain.alerts import (
    Alert,
    AlertDeliveryError,
    Condition,
    EpisodeState,
    InvalidCursorError,
    LogNotifier,
    WebhookNotifier,
    decode_cursor,
    encode_cursor,
    notifier,
    track_episodes,
    webhook_payload,
)

ESCO = uuid.UUID("2f7a3c64-5a0b-4e8e-9d7c-1b9a2e4f6c01")
READ_AT = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def meter_id(number: int) -> uuid.UUID:
    return uuid.UUID(int=number + 1)


def low_row(number: int, balance: str = "12.50") -> dict[str, Any]:
    return {
        "id": meter_id(number),
        "serial": f"EML{2200000000 + number:010d}",
        "name": f"House {number}",
        "esco": ESCO,
        "balance": Decimal(balance),
        "emergency_credit": Decimal("15.00"),
        "balance_updated_at": READ_AT,
    }


def offline_row(number: int, last_online: datetime | None = READ_AT) -> dict[str, Any]:
    return {
        "id": meter_id(number),
        "serial": f"EML{2200000000 + number:010d}",
        "name": f"House {number}",
        "esco": ESCO,
        "last_online": last_online,
        "minutes_offline": None if last_online is None else 200,
    }


def fleet(
    low: Sequence[int] = (), offline: Sequence[int] = ()
) -> dict[Condition, list[dict[str, Any]]]:
    return {
        "low_balance": [low_row(n) for n in low],
        "offline": [offline_row(n) for n in offline],
    }


def notified(alerts: list[Alert]) -> list[tuple[str, str]]:
    return [(alert.condition, alert.serial) for alert in alerts]


def test_first_evaluation_notifies_every_meter_already_in_a_condition() -> None:
    alerts, state = track_episodes(EpisodeState(), fleet(low=[2, 0], offline=[1]))
    assert notified(alerts) == [
        ("low_balance", "EML2200000000"),
        ("low_balance", "EML2200000002"),
        ("offline", "EML2200000001"),
    ]
    assert state == EpisodeState(
        low_balance=frozenset({meter_id(0), meter_id(2)}), offline=frozenset({meter_id(1)})
    )


def test_a_meter_staying_in_a_condition_is_not_notified_again() -> None:
    _, state = track_episodes(EpisodeState(), fleet(low=[0]))
    for _ in range(3):
        alerts, state = track_episodes(state, fleet(low=[0]))
        assert alerts == []
    assert state.low_balance == {meter_id(0)}


def test_only_the_meter_entering_is_notified() -> None:
    _, state = track_episodes(EpisodeState(), fleet(low=[0]))
    alerts, state = track_episodes(state, fleet(low=[0, 1]))
    assert notified(alerts) == [("low_balance", "EML2200000001")]
    assert state.low_balance == {meter_id(0), meter_id(1)}


def test_leaving_ends_the_episode_and_re_entering_starts_a_new_one() -> None:
    _, state = track_episodes(EpisodeState(), fleet(low=[0]))
    alerts, state = track_episodes(state, fleet())  # topped up
    assert alerts == []
    assert state == EpisodeState()
    alerts, state = track_episodes(state, fleet(low=[0]))  # low again
    assert notified(alerts) == [("low_balance", "EML2200000000")]


def test_conditions_are_separate_episodes() -> None:
    # Offline with a low last balance: both episodes start, and one ends without the other.
    alerts, state = track_episodes(EpisodeState(), fleet(low=[0], offline=[0]))
    assert notified(alerts) == [("low_balance", "EML2200000000"), ("offline", "EML2200000000")]
    alerts, state = track_episodes(state, fleet(low=[0]))
    assert alerts == []
    alerts, state = track_episodes(state, fleet(low=[0], offline=[0]))
    assert notified(alerts) == [("offline", "EML2200000000")]


def test_an_empty_fleet_notifies_nothing() -> None:
    assert track_episodes(EpisodeState(), fleet()) == ([], EpisodeState())
    assert decode_cursor(encode_cursor(EpisodeState())) == EpisodeState()


def test_a_missing_condition_is_an_error_not_the_end_of_its_episodes() -> None:
    with pytest.raises(KeyError):
        track_episodes(EpisodeState(offline=frozenset({meter_id(0)})), {"low_balance": []})


def test_alert_details_are_ready_for_json() -> None:
    never = offline_row(1, last_online=None)
    alerts, _ = track_episodes(
        EpisodeState(), {"low_balance": [low_row(0, "3.10")], "offline": [never]}
    )
    assert [alert.to_json() for alert in alerts] == [
        {
            "condition": "low_balance",
            "meter_id": str(meter_id(0)),
            "serial": "EML2200000000",
            "name": "House 0",
            "esco": str(ESCO),
            "details": {
                "balance": "3.10",
                "emergency_credit": "15.00",
                "balance_updated_at": "2026-11-27T09:30:00+00:00",
            },
        },
        {
            "condition": "offline",
            "meter_id": str(meter_id(1)),
            "serial": "EML2200000001",
            "name": "House 1",
            "esco": str(ESCO),
            "details": {"last_online": None, "minutes_offline": None},
        },
    ]


@given(st.lists(st.frozensets(st.integers(0, 5)), max_size=12))
def test_each_episode_is_notified_exactly_once(history: list[frozenset[int]]) -> None:
    state = EpisodeState()
    counts: dict[int, int] = {}
    for low in history:
        alerts, state = track_episodes(state, fleet(low=sorted(low)))
        state = decode_cursor(encode_cursor(state))  # as the sensor keeps it between ticks
        for alert in alerts:
            counts[alert.meter_id.int - 1] = counts.get(alert.meter_id.int - 1, 0) + 1
    # An episode begins wherever a meter is low and was not low one evaluation earlier.
    starts: dict[int, int] = {}
    previous: frozenset[int] = frozenset()
    for low in history:
        for number in low - previous:
            starts[number] = starts.get(number, 0) + 1
        previous = low
    assert counts == starts


def test_the_cursor_round_trips_and_does_not_depend_on_order() -> None:
    ids = [uuid.uuid4() for _ in range(50)]
    state = EpisodeState(low_balance=frozenset(ids[:30]), offline=frozenset(ids[20:]))
    cursor = encode_cursor(state)
    assert decode_cursor(cursor) == state
    assert json.loads(cursor)["v"] == 1
    reordered = EpisodeState(
        low_balance=frozenset(reversed(ids[:30])), offline=frozenset(reversed(ids[20:]))
    )
    assert encode_cursor(reordered) == cursor


def test_no_cursor_is_the_first_evaluation() -> None:
    assert decode_cursor(None) == EpisodeState()
    assert decode_cursor("") == EpisodeState()


def test_the_cursor_stays_compact_for_20000_meters() -> None:
    ids = frozenset(uuid.uuid4() for _ in range(20_000))
    cursor = encode_cursor(EpisodeState(low_balance=ids))
    # 16 bytes an id in base64: 426,668 characters, against ~780,000 as a JSON list of strings.
    assert 426_000 < len(cursor) < 427_000
    assert decode_cursor(cursor).low_balance == ids


@pytest.mark.parametrize(
    "cursor",
    [
        "not json",
        "[]",
        '{"v": 2, "low_balance": "", "offline": ""}',
        '{"v": 1, "low_balance": ""}',
        '{"v": 1, "low_balance": "!!!!", "offline": ""}',
        '{"v": 1, "low_balance": "AAAA", "offline": ""}',  # 3 bytes: not a whole id
        '{"v": 1, "low_balance": [], "offline": ""}',
    ],
)
def test_an_unreadable_cursor_says_how_to_start_over(cursor: str) -> None:
    with pytest.raises(InvalidCursorError, match="clear it to start over"):
        decode_cursor(cursor)


def test_the_log_notifier_writes_one_line_per_alert(caplog: pytest.LogCaptureFixture) -> None:
    last_online = READ_AT - timedelta(hours=4)
    alerts, _ = track_episodes(
        EpisodeState(),
        {
            "low_balance": [low_row(0)],
            "offline": [offline_row(1, last_online), offline_row(2, None)],
        },
    )
    logger = logging.getLogger("test_alerts")
    with caplog.at_level(logging.WARNING, logger="test_alerts"):
        LogNotifier(logger).notify(alerts)
    assert caplog.messages == [
        f"low balance: EML2200000000 'House 0' (meter {meter_id(0)}, esco {ESCO}): "
        "balance £12.50, emergency credit £15.00, read at 2026-11-27T09:30:00+00:00",
        f"offline: EML2200000001 'House 1' (meter {meter_id(1)}, esco {ESCO}): "
        "last online 2026-11-27T05:30:00+00:00 (200 minutes ago)",
        f"offline: EML2200000002 'House 2' (meter {meter_id(2)}, esco {ESCO}): never reached",
    ]


def test_the_webhook_payload_is_the_batch() -> None:
    alerts, _ = track_episodes(EpisodeState(), fleet(low=[0], offline=[1]))
    body = json.loads(webhook_payload(alerts))
    assert body["alerts"] == [alert.to_json() for alert in alerts]
    assert body["text"].splitlines() == [alert.describe() for alert in alerts]


def test_a_webhook_url_chooses_the_webhook_else_the_log() -> None:
    logger = logging.getLogger("test_alerts")
    url = "https://hooks.example.com/services/T0/B0/secret-token"
    webhook = notifier(url, logger)
    assert isinstance(webhook, WebhookNotifier)
    assert "secret-token" not in repr(webhook)
    assert notifier(None, logger) == LogNotifier(logger)
    assert notifier("  ", logger) == LogNotifier(logger)


def test_a_webhook_url_that_is_not_http_is_refused_without_quoting_it() -> None:
    with pytest.raises(AlertDeliveryError) as raised:
        WebhookNotifier("ftp://secret-token@example.com/")
    assert "secret-token" not in str(raised.value)
