"""The write path's tables: what is waiting to go to meters, and the record of every attempt."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from dagster_project.domain.rules.write_rules import StuckWrite
from dagster_project.domain.tariff_push import (
    Cancellation,
    PushAttempt,
    TariffChange,
    cancellations,
)
from dagster_project.domain.tariff_requests import (
    MeterFacts,
    TariffChangeRequest,
    meter_rates,
    tariff_json_text,
)
from dagster_project.domain.topups import (
    FINAL,
    SENDING,
    UNCERTAIN,
    QueuedToken,
    TokenAttemptResult,
    TokenCancellation,
    token_cancellations,
)
from dagster_project.emop.tariffs import Tariff
from dagster_project.warehouse.raw_tables import (
    METER_REGISTRY,
    TARIFF_CHANGE_REQUEST_METERS,
    TARIFF_PUSH_LOG,
    TOPUP_LOG,
    TOPUP_TOKENS,
    RawTable,
)

#: pg_advisory_lock key held by a write-path run, so that two runs never send the same token.
WRITE_PATH_LOCK = 7_301_042_001


def _insert(conn: psycopg.Connection, table: RawTable, row: dict[str, Any]) -> None:
    names = list(row)
    conn.execute(
        sql.SQL("insert into {} ({}) values ({})").format(
            table.identifier,
            sql.SQL(", ").join(map(sql.Identifier, names)),
            sql.SQL(", ").join(map(sql.Placeholder, names)),
        ),
        row,
    )


# ---------------------------------------------------------------- requests and tokens in


def insert_covered_meters(
    conn: psycopg.Connection, request: TariffChangeRequest, meters: Sequence[MeterFacts]
) -> None:
    for meter in meters:
        rates = meter_rates(meter, request.tariff)
        _insert(
            conn,
            TARIFF_CHANGE_REQUEST_METERS,
            {
                "request_id": request.request_id,
                "meter_id": meter.meter_id,
                "serial": meter.serial,
                "rates_applied": rates.rates_applied,
                "unit_rate_element_b": rates.unit_rate_element_b,
            },
        )


def insert_token(
    conn: psycopg.Connection,
    *,
    meter_id: uuid.UUID,
    serial: str,
    token: str,
    requested_by: str,
    requested_at: datetime,
) -> uuid.UUID | None:
    """Queue a token; None when this meter already has it queued (tokens are single-use)."""
    token_id = uuid.uuid4()
    row = conn.execute(
        sql.SQL(
            "insert into {} (token_id, meter_id, serial, token, requested_by, requested_at) "
            "values (%s, %s, %s, %s, %s, %s) on conflict (meter_id, token) do nothing "
            "returning token_id"
        ).format(TOPUP_TOKENS.identifier),
        (token_id, meter_id, serial, token, requested_by, requested_at),
    ).fetchone()
    return None if row is None else row[0]


# ---------------------------------------------------------------- what is waiting


_CHANGES = """
with attempts as (
    select
        request_id,
        meter_id,
        count(*) as attempts,
        (array_agg(outcome order by attempt desc))[1] as last_outcome,
        (array_agg(next_attempt_after order by attempt desc))[1] as next_attempt_after,
        bool_or(flagged) as flagged
    from flows_raw.tariff_push_log
    group by request_id, meter_id
),

changes as (
    select
        covered.request_id,
        covered.meter_id,
        covered.serial,
        requests.requested_at,
        requests.activation_at,
        (requests.tariff ->> 'standing_charge')::numeric,
        (requests.tariff ->> 'unit_rate_element_a')::numeric,
        -- This meter's night rate; covered rows from before per-meter rates have the request's.
        case
            when covered.rates_applied is null
                then (requests.tariff ->> 'unit_rate_element_b')::numeric
            else covered.unit_rate_element_b
        end,
        (requests.tariff ->> 'prepayment_ecredit_availability')::numeric,
        (requests.tariff ->> 'prepayment_debt_recovery_rate')::numeric,
        (requests.tariff ->> 'prepayment_emergency_credit')::numeric,
        coalesce(attempts.attempts, 0),
        attempts.last_outcome,
        attempts.next_attempt_after,
        coalesce(attempts.flagged, false) as flagged
    from flows_raw.tariff_change_request_meters as covered
    inner join flows_raw.tariff_change_requests as requests
        on covered.request_id = requests.request_id
    left join attempts
        on covered.request_id = attempts.request_id and covered.meter_id = attempts.meter_id
    -- A cancelled change is over: its meter left the registry or was deleted there.
    where covered.cancelled_at is null
)

-- Every change of each meter that has one still open: which one it gets depends on them all.
select * from changes
where meter_id in (
    select meter_id from changes
    where not flagged and coalesce(last_outcome, '') not in ('verified', 'superseded')
)
order by serial, requested_at
"""


def open_changes(conn: psycopg.Connection) -> list[TariffChange]:
    return [TariffChange(*row) for row in conn.execute(_CHANGES)]


_TOKENS = """
with attempts as (
    select
        token_id,
        count(*) as attempts,
        (array_agg(outcome order by attempt desc))[1] as last_outcome,
        (array_agg(next_attempt_after order by attempt desc))[1] as next_attempt_after,
        bool_or(flagged) as flagged,
        max(attempt) filter (where outcome = any(%(uncertain)s)) as uncertain_attempt,
        bool_or(outcome = any(%(final)s)) as final
    from flows_raw.topup_log
    group by token_id
)

select
    tokens.token_id,
    tokens.meter_id,
    tokens.serial,
    tokens.token,
    tokens.requested_at,
    coalesce(attempts.attempts, 0),
    attempts.last_outcome,
    attempts.next_attempt_after,
    coalesce(attempts.flagged, false),
    attempts.uncertain_attempt
from flows_raw.topup_tokens as tokens
left join attempts using (token_id)
where not coalesce(attempts.flagged, false) and not coalesce(attempts.final, false)
    -- A cancelled token is over: its meter left the registry or was deleted there.
    and tokens.cancelled_at is null
order by tokens.requested_at, tokens.token_id
"""


def open_tokens(conn: psycopg.Connection) -> list[QueuedToken]:
    params = {"uncertain": sorted(UNCERTAIN), "final": sorted(FINAL)}
    return [QueuedToken(*row) for row in conn.execute(_TOKENS, params)]


# ---------------------------------------------------------------- meters that have gone


def installation_statuses(conn: psycopg.Connection) -> dict[uuid.UUID, str | None]:
    """Every registry meter's id and installation_status (None counts as enabled)."""
    rows = conn.execute(
        sql.SQL("select id, installation_status from {}").format(METER_REGISTRY.identifier)
    )
    return dict(rows.fetchall())


def cancel_writes_of_gone_meters(
    conn: psycopg.Connection, now: datetime
) -> tuple[list[Cancellation], list[TokenCancellation]]:
    """Cancel the unfinished tariff changes and unsent tokens whose meter left the registry or
    is deleted there, in one transaction: nothing could ever deliver them, and they would
    otherwise wait for ever. One already cancelled keeps its first record, so running this
    again changes nothing. Returns those cancelled now."""
    with conn.transaction():
        statuses = installation_statuses(conn)
        changes = [
            found
            for found in cancellations(open_changes(conn), statuses)
            if _mark_cancelled(
                conn,
                TARIFF_CHANGE_REQUEST_METERS,
                {"request_id": found.request_id, "meter_id": found.meter_id},
                found.reason,
                now,
            )
        ]
        tokens = [
            found
            for found in token_cancellations(open_tokens(conn), statuses)
            if _mark_cancelled(conn, TOPUP_TOKENS, {"token_id": found.token_id}, found.reason, now)
        ]
    return changes, tokens


def _mark_cancelled(
    conn: psycopg.Connection, table: RawTable, key: dict[str, Any], reason: str, now: datetime
) -> bool:
    """Set the row's cancelled_at and cancel_reason unless it was cancelled before."""
    where = sql.SQL(" and ").join(
        sql.SQL("{} = %s").format(sql.Identifier(column)) for column in key
    )
    row = conn.execute(
        sql.SQL(
            "update {} set cancelled_at = %s, cancel_reason = %s "
            "where {} and cancelled_at is null returning true"
        ).format(table.identifier, where),
        (now, reason, *key.values()),
    ).fetchone()
    return row is not None


# ---------------------------------------------------------------- attempts


class WriteJournal:
    """The write path's record of attempts, each committed as it happens."""

    def __init__(self, conn: psycopg.Connection, run_id: str | None = None) -> None:
        self.conn = conn
        self.run_id = run_id

    def push(self, attempt: PushAttempt) -> None:
        row = asdict(attempt)
        row["read_back"] = None if attempt.read_back is None else _tariff_jsonb(attempt.read_back)
        with self.conn.transaction():
            _insert(self.conn, TARIFF_PUSH_LOG, row)

    def token_sending(self, token: QueuedToken, started_at: datetime) -> int:
        """Log the attempt as 'sending' and commit it, before any byte goes to the meter."""
        attempt = token.attempts + 1
        row = {
            "token_id": token.token_id,
            "meter_id": token.meter_id,
            "serial": token.serial,
            "attempt": attempt,
            "started_at": started_at,
            "outcome": SENDING,
            "flagged": False,
            "run_id": self.run_id,
        }
        with self.conn.transaction():
            _insert(self.conn, TOPUP_LOG, row)
        return attempt

    def token_outcome(self, token: QueuedToken, attempt: int, result: TokenAttemptResult) -> None:
        with self.conn.transaction():
            self.conn.execute(
                sql.SQL(
                    "update {} set outcome = %s, reason = %s, finished_at = %s, "
                    "next_attempt_after = %s, flagged = %s where token_id = %s and attempt = %s"
                ).format(TOPUP_LOG.identifier),
                (
                    result.outcome,
                    result.reason,
                    result.finished_at,
                    result.next_attempt_after,
                    result.flagged,
                    token.token_id,
                    attempt,
                ),
            )


def _tariff_jsonb(tariff: Tariff) -> Jsonb:
    values: dict[str, Decimal | str | None] = {}
    for field in fields(tariff):
        value = getattr(tariff, field.name)
        values[field.name] = value.isoformat() if isinstance(value, datetime) else value
    return Jsonb(values, dumps=tariff_json_text)


# ---------------------------------------------------------------- what operators must see


def stuck_tariff_changes(conn: psycopg.Connection, now: datetime) -> list[StuckWrite]:
    """Changes given up on, and changes whose activation time passed before the meter had them
    (the meter applies them late, so households pay the old prices meanwhile)."""
    rows = conn.execute(
        """
        with latest as (
            select distinct on (request_id, meter_id)
                request_id, meter_id, attempt, outcome, reason, flagged
            from flows_raw.tariff_push_log
            order by request_id, meter_id, attempt desc
        )
        select covered.serial, covered.request_id::text, coalesce(latest.attempt, 0),
               latest.outcome, latest.reason, requests.activation_at,
               coalesce(latest.flagged, false)
        from flows_raw.tariff_change_request_meters as covered
        inner join flows_raw.tariff_change_requests as requests
            on covered.request_id = requests.request_id
        left join latest
            on covered.request_id = latest.request_id and covered.meter_id = latest.meter_id
        where covered.cancelled_at is null
          and (coalesce(latest.flagged, false)
               or (requests.activation_at <= %s
                   and coalesce(latest.outcome, '') not in ('verified', 'superseded')))
        order by covered.serial, requests.activation_at
        """,
        (now,),
    )
    return [StuckWrite(*row) for row in rows]


def flagged_tokens(conn: psycopg.Connection) -> list[StuckWrite]:
    rows = conn.execute(
        """
        with latest as (
            select distinct on (token_id) token_id, attempt, outcome, reason, flagged
            from flows_raw.topup_log
            order by token_id, attempt desc
        )
        select tokens.serial, '...' || right(tokens.token, 4), latest.attempt, latest.outcome,
               latest.reason, tokens.requested_at, latest.flagged
        from flows_raw.topup_tokens as tokens
        inner join latest on tokens.token_id = latest.token_id
        where latest.flagged
        order by tokens.serial, tokens.requested_at
        """
    )
    return [StuckWrite(*row) for row in rows]


@contextmanager
def write_path_lock(conn: psycopg.Connection) -> Iterator[bool]:
    """Hold the write path's lock for the block; yields False when another run holds it."""
    (locked,) = conn.execute("select pg_try_advisory_lock(%s)", (WRITE_PATH_LOCK,)).fetchone()
    try:
        yield bool(locked)
    finally:
        if locked:
            conn.execute("select pg_advisory_unlock(%s)", (WRITE_PATH_LOCK,))
