"""Top-up tokens: accepted formats, and what each kind of attempt result means."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from dagster_project.domain.topups import (
    ALREADY_USED,
    APPLIED,
    NOT_SENT,
    REJECTED,
    SENDING,
    UNKNOWN,
    QueuedToken,
    TokenCancellation,
    TokenFormatError,
    classify,
    masked,
    parse_token,
    token_cancellations,
)
from dagster_project.emop.errors import (
    AckNak,
    ConnectionRefusedByMeter,
    MeterConnectionError,
    MeterTimeoutError,
    NakError,
)

NOW = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)


def queued(**changes: object) -> QueuedToken:
    base = {
        "token_id": uuid.uuid4(),
        "meter_id": uuid.uuid4(),
        "serial": "EML2137580826",
        "token": "71466394621589161020",
        "requested_at": NOW,
    }
    return QueuedToken(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    ["71466394621589161020", " 7146 6394 6215 8916 1020 ", "7146-6394-6215-8916-1020"],
)
def test_tokens_may_be_grouped_as_printed(text: str) -> None:
    assert parse_token(text) == "71466394621589161020"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("7146639462158916102", "this has 19"),
        ("714663946215891610201", "this has 21"),
        ("7146639462158916102x", "digits only"),
        ("٧١٤٦٦٣٩٤٦٢١٥٨٩١٦١٠٢٠", "digits only"),  # Arabic-Indic digits are not ASCII
        ("", "no token given"),
        (" - ", "no token given"),
    ],
)
def test_malformed_tokens_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(TokenFormatError, match=reason):
        parse_token(text)


def test_a_masked_token_shows_only_its_last_four_digits() -> None:
    assert masked("71466394621589161020") == "...1020"


def test_an_acknowledged_send_applied_the_token() -> None:
    assert classify(queued(), None).outcome == APPLIED


def test_a_connection_that_never_opened_means_not_sent_and_safe_to_retry() -> None:
    error = ConnectionRefusedByMeter("connection refused")
    error.request_sent = False
    result = classify(queued(), error)
    assert (result.outcome, result.retry) == (NOT_SENT, True)


@pytest.mark.parametrize(
    "error",
    [MeterTimeoutError("no complete answer within 10 s"), MeterConnectionError("closed mid-frame")],
)
def test_a_lost_answer_after_sending_is_unknown_and_retried(error: Exception) -> None:
    result = classify(queued(), error)  # type: ignore[arg-type]
    assert (result.outcome, result.retry) == (UNKNOWN, True)


def test_a_refusal_after_a_lost_answer_means_that_attempt_credited_it() -> None:
    after_loss = queued(attempts=1, last_outcome=UNKNOWN, uncertain_attempt=1)
    result = classify(after_loss, NakError(AckNak.ACCESS_DENIED))
    assert result.outcome == ALREADY_USED and not result.retry
    assert "attempt 1 credited it" in (result.reason or "")


def test_a_refusal_without_any_earlier_send_says_it_was_used_elsewhere() -> None:
    result = classify(queued(), NakError(AckNak.ACCESS_DENIED))
    assert result.outcome == ALREADY_USED
    assert "before this system sent it" in (result.reason or "")


def test_other_naks_reject_the_token_for_good() -> None:
    result = classify(queued(), NakError(AckNak.FORMAT_ERROR))
    assert (result.outcome, result.retry) == (REJECTED, False)


def test_due_tokens() -> None:
    assert queued().due(NOW)
    assert queued(attempts=1, last_outcome=SENDING).due(NOW)  # a crash mid-send: find out
    later = NOW + timedelta(minutes=15)
    assert not queued(attempts=1, last_outcome=NOT_SENT, next_attempt_after=later).due(NOW)
    assert queued(attempts=1, last_outcome=NOT_SENT, next_attempt_after=later).due(later)
    for final in (APPLIED, ALREADY_USED, REJECTED):
        assert not queued(attempts=1, last_outcome=final).due(later)
    assert not queued(attempts=10, last_outcome=UNKNOWN, flagged=True).due(later)


def test_only_unfinished_tokens_of_gone_meters_are_cancelled() -> None:
    gone, deleted, disabled = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    waiting = queued(meter_id=gone, serial="EML2200000001")
    lost_answer = queued(
        meter_id=deleted,
        serial="EML2200000002",
        attempts=2,
        last_outcome=NOT_SENT,
        uncertain_attempt=1,
    )
    finished = [
        queued(meter_id=gone, serial="EML2200000001", attempts=1, last_outcome=APPLIED),
        queued(meter_id=gone, serial="EML2200000001", attempts=1, last_outcome=REJECTED),
        queued(meter_id=gone, serial="EML2200000001", attempts=9, flagged=True),
    ]
    # A disabled meter may come back: its token waits.
    kept = queued(meter_id=disabled, serial="EML2200000003")
    registry = {deleted: "deleted", disabled: "disabled"}

    found = token_cancellations([waiting, lost_answer, *finished, kept], registry)
    assert found[0] == TokenCancellation(
        waiting.token_id,
        gone,
        "EML2200000001",
        masked(waiting.token),
        "meter EML2200000001 left the registry",
    )
    assert [c.token_id for c in found] == [waiting.token_id, lost_answer.token_id]
    reason = found[1].reason
    assert reason.startswith("meter EML2200000002 is deleted")
    assert "attempt 1 was lost" in reason and "check the meter's credit" in reason
