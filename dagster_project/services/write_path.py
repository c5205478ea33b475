"""One run of the write path: queued tokens and due tariff changes sent to their meters.

Per meter, tokens go first (a household without credit is waiting), then the tariff push. Every
attempt is written to the journal as it happens, so a run cut off midway leaves a true record.
A meter's failure is its own: it is logged and retried on a later run, the rest carry on.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

import psycopg

from dagster_project.domain.fleet_sync import RegisteredMeter, esco_of
from dagster_project.domain.progress import Progress
from dagster_project.domain.tariff_push import (
    CANCELLED,
    FAILED,
    SENT,
    VERIFIED,
    Cancellation,
    PushAttempt,
    TariffChange,
    WriteRetryPolicy,
    plan_meter,
    read_back_differences,
    settle,
    superseded_attempt,
    tariff_for_meter,
)
from dagster_project.domain.topups import (
    ALREADY_USED,
    APPLIED,
    QueuedToken,
    TokenAttemptResult,
    TokenCancellation,
    classify,
    masked,
)
from dagster_project.domain.topups import CANCELLED as TOKEN_CANCELLED
from dagster_project.emop import objects as o
from dagster_project.emop import runner
from dagster_project.emop.client import ClientSettings, EmopClient
from dagster_project.emop.errors import EmopError
from dagster_project.emop.state import MeterEndpoint
from dagster_project.warehouse.connection_leases import PostgresConnectionSlots
from dagster_project.warehouse.identity_store import unresolved_mismatches
from dagster_project.warehouse.sync_store import registered_meters
from dagster_project.warehouse.write_store import (
    WriteJournal,
    cancel_writes_of_gone_meters,
    open_changes,
    open_tokens,
    write_path_lock,
)


class Journal(Protocol):
    def push(self, attempt: PushAttempt) -> None: ...

    def token_sending(self, token: QueuedToken, started_at: datetime) -> int: ...

    def token_outcome(
        self, token: QueuedToken, attempt: int, result: TokenAttemptResult
    ) -> None: ...


@dataclass
class WriteReport:
    """What a run did, for the asset's metadata and log."""

    tariff_outcomes: Counter[str] = field(default_factory=Counter)
    token_outcomes: Counter[str] = field(default_factory=Counter)
    #: Attempts that did not succeed or were given up on, and changes cancelled because their
    #: meter is gone: (serial, what, reason).
    problems: list[tuple[str, str, str]] = field(default_factory=list)
    #: Meters with work that were not contacted, and why.
    waiting: dict[str, str] = field(default_factory=dict)
    flagged: int = 0


@dataclass(frozen=True)
class MeterWork:
    meter: RegisteredMeter
    tokens: tuple[QueuedToken, ...]
    push: TariffChange | None
    displaced: tuple[TariffChange, ...]


def plan_work(
    meters: Iterable[RegisteredMeter],
    changes: Iterable[TariffChange],
    tokens: Iterable[QueuedToken],
    now: datetime,
    blocked: Mapping[uuid.UUID, str] | None = None,
) -> tuple[list[MeterWork], list[tuple[TariffChange, TariffChange]], dict[str, str]]:
    """Who gets what this run: work per meter, changes superseded now, meters left waiting.
    `blocked` meters (an identity mismatch no operator has resolved) are left waiting with
    the reason given."""
    blocked = blocked or {}
    by_id = {meter.id: meter for meter in meters}
    changes_by_meter: dict[uuid.UUID, list[TariffChange]] = defaultdict(list)
    for change in changes:
        changes_by_meter[change.meter_id].append(change)
    tokens_by_meter: dict[uuid.UUID, list[QueuedToken]] = defaultdict(list)
    for token in tokens:
        if token.due(now):
            tokens_by_meter[token.meter_id].append(token)

    work: list[MeterWork] = []
    superseded: list[tuple[TariffChange, TariffChange]] = []
    waiting: dict[str, str] = {}
    for meter_id in sorted(changes_by_meter.keys() | tokens_by_meter.keys(), key=str):
        plan = plan_meter(changes_by_meter.get(meter_id, []), now)
        if plan.latest is not None:
            superseded += [(change, plan.latest) for change in plan.superseded]
        due_tokens = tuple(tokens_by_meter.get(meter_id, ()))
        if plan.push is None and not due_tokens:
            continue
        meter = by_id.get(meter_id)
        serial = plan.push.serial if plan.push else due_tokens[0].serial
        if meter is None:
            waiting[serial] = "not in the meter registry"
        elif not meter.polled:
            waiting[serial] = f"not contacted: {meter.not_polled_reason}"
        elif meter_id in blocked:
            waiting[serial] = blocked[meter_id]
        else:
            work.append(MeterWork(meter, due_tokens, plan.push, plan.displaced))
    return work, superseded, waiting


class WritePath:
    """Carries out one run's plan with an EMOP client, recording every attempt."""

    def __init__(
        self,
        client: EmopClient,
        journal: Journal,
        policy: WriteRetryPolicy,
        clock: Callable[[], datetime],
        run_id: str | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.say = say
        self.client = client
        self.journal = journal
        self.policy = policy
        self.now = clock
        self.run_id = run_id
        self.report = WriteReport()

    async def run(
        self,
        work: list[MeterWork],
        superseded: list[tuple[TariffChange, TariffChange]],
        waiting: dict[str, str],
    ) -> WriteReport:
        self.report.waiting.update(waiting)
        for change, by in superseded:
            self._record_push(superseded_attempt(change, by, self.now(), self.run_id))
        by_endpoint = {item.meter.endpoint: item for item in work}
        progress = Progress("write path", total=len(by_endpoint))

        async def one(endpoint: MeterEndpoint) -> None:
            ok = False
            try:
                await self._meter(by_endpoint[endpoint])
                ok = True
            finally:
                line = progress.record(ok, time.monotonic())
                if line and self.say:
                    self.say(line)

        await self.client.for_each_meter(
            by_endpoint, one, group_of=esco_of(item.meter for item in work)
        )
        return self.report

    async def _meter(self, work: MeterWork) -> None:
        for token in work.tokens:
            await self._send_token(work.meter, token)
        if work.push is not None:
            attempt = await self._push(work.meter, work.push)
            if attempt.written_at is not None:
                for change in work.displaced:
                    self._record_push(
                        superseded_attempt(change, work.push, self.now(), self.run_id)
                    )

    async def _send_token(self, meter: RegisteredMeter, token: QueuedToken) -> None:
        started = self.now()
        attempt = self.journal.token_sending(token, started)
        error: EmopError | None = None
        try:
            await self.client.send_token(meter.endpoint, token.token)
        except EmopError as raised:
            error = raised
        result = classify(token, error)
        finished = self.now()
        next_after = self.policy.next_attempt_after(attempt, finished) if result.retry else None
        flagged = result.outcome not in (APPLIED, ALREADY_USED) and next_after is None
        reason = result.reason
        if flagged and result.retry:
            reason = f"{reason}; gave up after {attempt} attempts"
        self.journal.token_outcome(
            token,
            attempt,
            TokenAttemptResult(result.outcome, reason, finished, next_after, flagged),
        )
        self.report.token_outcomes[result.outcome] += 1
        if reason is not None and result.outcome != APPLIED:
            self.report.problems.append((meter.serial, f"token {masked(token.token)}", reason))
        self.report.flagged += flagged

    async def _push(self, meter: RegisteredMeter, change: TariffChange) -> PushAttempt:
        endpoint = meter.endpoint
        started = self.now()
        attempt = PushAttempt(
            request_id=change.request_id,
            meter_id=change.meter_id,
            serial=change.serial,
            attempt=change.attempts + 1,
            started_at=started,
            finished_at=started,
            outcome=FAILED,
            run_id=self.run_id,
        )
        try:
            dst_enabled = bool(await self.client.read(endpoint, o.DST_FLAG))
            wanted = tariff_for_meter(change, dst_enabled)
            attempt = replace(
                attempt, dst_enabled=dst_enabled, meter_activation=wanted.activation_datetime
            )
            held = await self.client.read_tariff(endpoint, future=True)
            if read_back_differences(wanted, held):
                # Reading first makes a retry after a lost read-back a read, not a rewrite.
                await self.client.write_future_tariff(endpoint, wanted)
                attempt = replace(attempt, written_at=self.now())
                held = await self.client.read_tariff(endpoint, future=True)
            differences = read_back_differences(wanted, held)
            attempt = replace(
                attempt,
                outcome=FAILED if differences else VERIFIED,
                read_back=held,
                reason=("read back differs: " + "; ".join(differences)) if differences else None,
            )
        except EmopError as error:
            outcome = SENT if attempt.written_at is not None else FAILED
            attempt = replace(attempt, outcome=outcome, reason=str(error))
        attempt = settle(replace(attempt, finished_at=self.now()), self.policy)
        self._record_push(attempt)
        return attempt

    def _record_push(self, attempt: PushAttempt) -> None:
        self.journal.push(attempt)
        self.report.tariff_outcomes[attempt.outcome] += 1
        self.report.flagged += attempt.flagged
        if attempt.outcome in (SENT, FAILED) and attempt.reason:
            self.report.problems.append((attempt.serial, "tariff", attempt.reason))


def run_write_path(
    conn: psycopg.Connection,
    settings: ClientSettings,
    policy: WriteRetryPolicy,
    clock: Callable[[], datetime],
    run_id: str | None = None,
    slots: PostgresConnectionSlots | None = None,
    say: Callable[[str], None] | None = None,
) -> WriteReport | None:
    """One run against the database `conn` (autocommit); None when another run is working.
    `slots` caps connections per ESCO together with the other runs that contact meters."""
    with write_path_lock(conn) as locked:
        if not locked:
            return None
        # Before planning, so that a meter gone from the registry takes no part in it.
        cancelled, cancelled_tokens = cancel_writes_of_gone_meters(conn, clock())
        work, superseded, waiting = plan_work(
            registered_meters(conn),
            open_changes(conn),
            open_tokens(conn),
            clock(),
            blocked=writes_blocked(conn),
        )

        async def go() -> WriteReport:
            async with (
                slots or contextlib.nullcontext(None),
                EmopClient(settings, slots=slots) as client,
            ):
                journal = WriteJournal(conn, run_id)
                path = WritePath(client, journal, policy, clock, run_id, say=say)
                return await path.run(work, superseded, waiting)

        report = runner.run(go())
    note_cancelled(report, cancelled, cancelled_tokens)
    return report


def writes_blocked(conn: psycopg.Connection) -> dict[uuid.UUID, str]:
    """Meters no write may reach: an unresolved identity mismatch, with what to do about it."""
    return {
        mismatch.meter_id: (
            f"blocked: {mismatch.message} (since {mismatch.first_seen:%Y-%m-%d %H:%M} UTC); "
            f"check the meter, then `flows identity resolve {mismatch.serial} --by NAME`"
        )
        for mismatch in unresolved_mismatches(conn)
    }


def note_cancelled(
    report: WriteReport,
    cancelled: list[Cancellation],
    cancelled_tokens: list[TokenCancellation],
) -> None:
    """Count the changes and tokens cancelled this run and name each, as the attempts'
    problems are."""
    if cancelled:
        report.tariff_outcomes[CANCELLED] += len(cancelled)
    if cancelled_tokens:
        report.token_outcomes[TOKEN_CANCELLED] += len(cancelled_tokens)
    report.problems += [
        (c.serial, "tariff", f"request {c.request_id} cancelled: {c.reason}") for c in cancelled
    ]
    report.problems += [
        (t.serial, f"token {t.shown}", f"cancelled: {t.reason}") for t in cancelled_tokens
    ]
