"""Top-up tokens: what an operator may queue, and what each attempt to send one means.

A token must credit a meter exactly once. Two things make that hold:

* This side never sends a token again once any attempt ended in a way that could have
  credited it, unless the meter can say so itself: each attempt is logged as 'sending' and
  committed before a byte leaves, the client makes one try with no automatic resend, and
  only one write-path run works at a time (an advisory lock).
* After an attempt whose answer was lost ('unknown', or 'sending' left by a crash), the token
  is sent again, because a prepayment meter remembers the tokens it accepted and refuses a
  repeat (NAK 6 here): a refusal then means the lost attempt did credit it. Without that
  memory a lost answer could not be told from a lost request, and no client could do better.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from dagster_project.domain.registry import departure_reason
from dagster_project.emop.errors import AckNak, EmopError, NakError

TOKEN_DIGITS = 20
#: Printed tokens come in groups (1234 5678 ... or 1234-5678-...); the separators are dropped.
_SEPARATORS = re.compile(r"[\s-]+")

SENDING = "sending"
APPLIED = "applied"
ALREADY_USED = "already_used"
NOT_SENT = "not_sent"
UNKNOWN = "unknown"
REJECTED = "rejected"
#: Outcomes after which the token is never sent again.
FINAL = frozenset({APPLIED, ALREADY_USED, REJECTED})
#: Outcomes after which the meter may or may not have credited the token.
UNCERTAIN = frozenset({SENDING, UNKNOWN})
#: Not an attempt's outcome: the status of a token whose meter left the registry or was
#: deleted there before the token reached it (recorded on the token).
CANCELLED = "cancelled"


class TokenFormatError(ValueError):
    """Not a 20-digit token; the message is the reason shown to the operator."""


def parse_token(text: str) -> str:
    token = _SEPARATORS.sub("", text.strip())
    if not token:
        raise TokenFormatError("no token given")
    if not token.isascii() or not token.isdigit():
        raise TokenFormatError("a token is digits only (spaces and dashes between groups are ok)")
    if len(token) != TOKEN_DIGITS:
        raise TokenFormatError(f"a token has {TOKEN_DIGITS} digits, this has {len(token)}")
    return token


def masked(token: str) -> str:
    """Enough of a token to recognise it in a log line, not enough to use it."""
    return f"...{token[-4:]}"


@dataclass(frozen=True)
class QueuedToken:
    """A token in flows_raw.topup_tokens with the outcome of its attempts so far."""

    token_id: uuid.UUID
    meter_id: uuid.UUID
    serial: str
    token: str
    requested_at: datetime
    attempts: int = 0
    last_outcome: str | None = None
    next_attempt_after: datetime | None = None
    flagged: bool = False
    #: The latest attempt whose answer was lost, if any.
    uncertain_attempt: int | None = None

    @property
    def finished(self) -> bool:
        return self.flagged or self.last_outcome in FINAL

    def due(self, now: datetime) -> bool:
        if self.finished:
            return False
        # 'sending' as the latest outcome is a crash mid-send: find out now.
        return self.next_attempt_after is None or self.next_attempt_after <= now


@dataclass(frozen=True)
class TokenAttemptResult:
    """How one attempt ended, as the log records it."""

    outcome: str
    reason: str | None
    finished_at: datetime
    next_attempt_after: datetime | None
    flagged: bool


@dataclass(frozen=True)
class SendOutcome:
    outcome: str
    reason: str | None

    @property
    def retry(self) -> bool:
        return self.outcome in (NOT_SENT, UNKNOWN)


def classify(token: QueuedToken, error: EmopError | None) -> SendOutcome:
    """What an attempt's result means for the token."""
    if error is None:
        return SendOutcome(APPLIED, None)
    if isinstance(error, NakError) and error.code == AckNak.ACCESS_DENIED:
        if token.uncertain_attempt is not None:
            reason = (
                f"the meter refused it as already used: attempt {token.uncertain_attempt} "
                "credited it and its answer was lost"
            )
        else:
            reason = (
                "the meter refused it as already used before this system sent it "
                "(entered on the meter's keypad?)"
            )
        return SendOutcome(ALREADY_USED, reason)
    if isinstance(error, NakError):
        return SendOutcome(REJECTED, f"the meter refused the token: {error}")
    if not error.request_sent:
        return SendOutcome(NOT_SENT, f"not sent, the meter could not be reached: {error}")
    return SendOutcome(UNKNOWN, f"sent, but no answer: {error}")


@dataclass(frozen=True)
class TokenCancellation:
    """A queued token that will never be sent, and why."""

    token_id: uuid.UUID
    meter_id: uuid.UUID
    serial: str
    #: The token as log lines show it (`masked`).
    shown: str
    reason: str


def token_cancellations(
    tokens: Iterable[QueuedToken], registry: Mapping[uuid.UUID, str | None]
) -> list[TokenCancellation]:
    """The unfinished tokens whose meter is gone. `registry` maps each registry meter's id to
    its installation_status. A token whose last answer was lost may already be on the meter:
    the reason says so, because the customer's refund depends on it."""
    out = []
    for token in tokens:
        if token.finished:
            continue
        reason = departure_reason(
            token.serial, token.meter_id in registry, registry.get(token.meter_id)
        )
        if reason is None:
            continue
        if token.uncertain_attempt is not None:
            reason += (
                f"; the answer to attempt {token.uncertain_attempt} was lost, so the meter may "
                "have credited it: check the meter's credit before refunding"
            )
        out.append(
            TokenCancellation(
                token.token_id, token.meter_id, token.serial, masked(token.token), reason
            )
        )
    return out
