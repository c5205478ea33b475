"""Judging the write path: what an operator must act on, as check verdicts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from dagster_project.domain.rules.fleet_rules import Verdict


@dataclass(frozen=True)
class StuckWrite:
    """A tariff change or token that needs a person: given up on, or late on its meter."""

    serial: str
    #: The request id, or the token's last four digits.
    what: str
    attempts: int
    last_outcome: str | None
    reason: str | None
    #: The activation time (tariff changes) or when it was queued (tokens).
    due_at: datetime
    #: Given up on after the last allowed attempt (else only late).
    flagged: bool


def judge_tariff_changes(stuck: Sequence[StuckWrite]) -> Verdict:
    """Given up on is an error (a person must look); only late is a warning (it keeps trying)."""
    flagged = [s for s in stuck if s.flagged]
    late = [s for s in stuck if not s.flagged]
    meters = [
        {
            "serial": s.serial,
            "request_id": s.what,
            "state": "given up" if s.flagged else "late: activation passed, not on the meter",
            "activation_at": s.due_at,
            "attempts": s.attempts,
            "last_outcome": s.last_outcome or "never attempted",
            "reason": s.reason or "",
        }
        for s in stuck
    ]
    if not stuck:
        summary = "every tariff change reached its meter in time or is still on its way"
    else:
        summary = (
            f"{len(flagged)} tariff change(s) given up on after repeated failures, "
            f"{len(late)} past their activation time and not yet on the meter"
        )
    return Verdict(
        passed=not stuck,
        severity="ERROR" if flagged else "WARN",
        summary=summary,
        meters=meters,
        counts={"changes_given_up": len(flagged), "changes_late": len(late)},
    )


def judge_tokens(flagged: Sequence[StuckWrite]) -> Verdict:
    meters = [
        {
            "serial": s.serial,
            "token": s.what,
            "queued_at": s.due_at,
            "attempts": s.attempts,
            "last_outcome": s.last_outcome,
            "reason": s.reason or "",
        }
        for s in flagged
    ]
    summary = (
        f"{len(flagged)} top-up token(s) not credited and given up on"
        if flagged
        else "no top-up token given up on"
    )
    return Verdict(
        passed=not flagged,
        severity="ERROR",
        summary=summary,
        meters=meters,
        counts={"tokens_given_up": len(flagged)},
    )
