"""Queries behind the fleet-health checks: which meters drift, lose signal, fail or misbehave.

Each returns plain rows (domain/fleet_health.py's types); deciding what is a warning or an
error is domain/rules/fleet_rules.py's job.
Only affected meters are looked at in detail, so the cost follows the problems, not the fleet.
"""

from __future__ import annotations

import uuid

import psycopg
from psycopg.rows import class_row

from dagster_project.domain.fleet_health import (
    BalanceBelowFloor,
    BalanceRise,
    ClockDrift,
    FlagDisagreement,
    SignalDrop,
    SyncOutcome,
)

#: The event-log id a meter records when a top-up is applied.
TOP_UP_EVENT = 48


def clock_drifts(conn: psycopg.Connection, threshold_seconds: int) -> list[ClockDrift]:
    query = """
        select
            registry.serial,
            shadows.clock_time_diff_seconds as drift_seconds,
            shadows.balance_updated_at as measured_at,
            coalesce(
                (
                    select min(later.polled_at)
                    from flows_raw.meter_sync_snapshots as later
                    where
                        later.meter_id = registry.id
                        and later.clock_time_diff_seconds is not null
                        and later.polled_at > coalesce(
                            (
                                select max(good.polled_at)
                                from flows_raw.meter_sync_snapshots as good
                                where
                                    good.meter_id = registry.id
                                    and abs(good.clock_time_diff_seconds) < %(threshold)s
                            ),
                            '-infinity'
                        )
                ),
                shadows.balance_updated_at
            ) as since
        from flows.meter_registry as registry
        join flows.meter_shadows as shadows using (id)
        where registry.polled and abs(shadows.clock_time_diff_seconds) >= %(threshold)s
        order by abs(shadows.clock_time_diff_seconds) desc, registry.serial
    """
    with conn.cursor(row_factory=class_row(ClockDrift)) as cursor:
        return cursor.execute(query, {"threshold": threshold_seconds}).fetchall()


def signal_drops(
    conn: psycopg.Connection, floor: int, drop: int, median_days: int
) -> list[SignalDrop]:
    query = """
        with current_signal as (
            select registry.id, registry.serial, shadows.csq
            from flows.meter_registry as registry
            join flows.meter_shadows as shadows using (id)
            where registry.polled and shadows.csq is not null
        ),
        medians as (
            select
                meter_id,
                percentile_cont(0.5) within group (order by csq) as median_csq
            from flows_raw.meter_sync_snapshots
            where csq is not null and polled_at > now() - make_interval(days => %(days)s)
            group by meter_id
        )
        select
            current_signal.serial,
            current_signal.csq,
            medians.median_csq,
            (
                select max(history."timestamp")
                from flows.meter_csq as history
                where history.meter_id = current_signal.id
            ) as since
        from current_signal
        left join medians on medians.meter_id = current_signal.id
        where
            current_signal.csq < %(floor)s
            or current_signal.csq <= medians.median_csq - %(drop)s
        order by current_signal.csq, current_signal.serial
    """
    params = {"floor": floor, "drop": drop, "days": median_days}
    with conn.cursor(row_factory=class_row(SignalDrop)) as cursor:
        return cursor.execute(query, params).fetchall()


def sync_outcome(conn: psycopg.Connection, sync_ids: list[uuid.UUID]) -> SyncOutcome | None:
    """The failures of the syncs of one run, taken together."""
    (finished_at,) = conn.execute(
        "select max(finished_at) from flows_raw.meter_syncs where sync_id = any(%s)", (sync_ids,)
    ).fetchone()
    if finished_at is None:
        return None
    failures = conn.execute(
        """
        select serial, error_class
        from flows_raw.meter_sync_snapshots
        where sync_id = any(%s) and outcome = 'failed'
        order by serial
        """,
        (sync_ids,),
    ).fetchall()
    (attempted,) = conn.execute(
        "select count(*) from flows_raw.meter_sync_snapshots "
        "where sync_id = any(%s) and outcome <> 'skipped'",
        (sync_ids,),
    ).fetchone()
    return SyncOutcome(
        sync_ids=sync_ids,
        finished_at=finished_at,
        attempted=attempted,
        failed=len(failures),
        failures=[(serial, error_class) for serial, error_class in failures],
    )


def balance_rises(
    conn: psycopg.Connection, lookback_days: int, match_minutes: int
) -> list[BalanceRise]:
    """Rises of prepayment balances in the lookback window, with what the event log says."""
    query = """
        with recent as (
            select
                history.meter_id,
                history."timestamp" as at,
                history.balance,
                lag(history.balance) over by_meter as previous_balance,
                lag(history."timestamp") over by_meter as previous_at
            from flows.meter_prepay_balance as history
            where history."timestamp" > now() - make_interval(days => %(days)s)
            window by_meter as (partition by history.meter_id order by history."timestamp")
        )
        select
            registry.serial,
            recent.at,
            recent.previous_at,
            recent.previous_balance,
            recent.balance,
            exists (
                select 1
                from flows_raw.meter_event_log as events
                where
                    events.meter_id = recent.meter_id
                    and events.event_id = %(top_up_event)s
                    and events.event_timestamp
                    between recent.previous_at - make_interval(mins => %(match)s)
                    and recent.at + make_interval(mins => %(match)s)
            ) as has_top_up_event,
            -- The meter's logs for the rise's UTC day were downloaded after the rise: the
            -- event log read then would hold its top-up.
            exists (
                select 1
                from flows_raw.profile_log_1 as profile
                where
                    profile.meter_id = recent.meter_id
                    and profile.record_timestamp
                    >= date_trunc('day', recent.at at time zone 'UTC') at time zone 'UTC'
                    and profile.loaded_at > recent.at
            ) as logs_cover_it
        from recent
        join flows.meter_registry as registry on registry.id = recent.meter_id
        where
            recent.balance > recent.previous_balance
            and registry.polled
            and registry.prepay_enabled
        order by recent.at, registry.serial
    """
    params = {"days": lookback_days, "match": match_minutes, "top_up_event": TOP_UP_EVENT}
    with conn.cursor(row_factory=class_row(BalanceRise)) as cursor:
        return cursor.execute(query, params).fetchall()


def balances_below_floor(conn: psycopg.Connection) -> list[BalanceBelowFloor]:
    """Prepayment meters whose balance is below minus their emergency credit: impossible."""
    query = """
        select
            registry.serial,
            shadows.balance,
            shadows.emergency_credit,
            (
                select min(history."timestamp")
                from flows.meter_prepay_balance as history
                where
                    history.meter_id = registry.id
                    and history."timestamp" > coalesce(
                        (
                            select max(fine."timestamp")
                            from flows.meter_prepay_balance as fine
                            where
                                fine.meter_id = registry.id
                                and fine.balance >= -fine.emergency_credit
                        ),
                        '-infinity'
                    )
            ) as since
        from flows.meter_registry as registry
        join flows.meter_shadows as shadows using (id)
        where
            registry.polled
            and registry.prepay_enabled
            and shadows.balance < -shadows.emergency_credit
        order by shadows.balance, registry.serial
    """
    with conn.cursor(row_factory=class_row(BalanceBelowFloor)) as cursor:
        return cursor.execute(query).fetchall()


def flag_disagreements(conn: psycopg.Connection) -> list[FlagDisagreement]:
    """Meters whose registry file and latest report disagree on prepayment or daylight saving
    correction (an empty registry flag is filled from the meter and cannot disagree)."""
    query = """
        select serial, flag, registry_value, meter_value, flags_reported_at as reported_at
        from flows.meter_registry as registry
        cross join lateral (
            values
                ('prepay_enabled', prepay_enabled_registry, prepay_enabled_reported),
                (
                    'daylight_savings_correction_enabled',
                    daylight_savings_correction_registry,
                    daylight_savings_correction_reported
                )
        ) as flags (flag, registry_value, meter_value)
        where registry.installation_status <> 'deleted' and registry_value <> meter_value
        order by serial, flag
    """
    with conn.cursor(row_factory=class_row(FlagDisagreement)) as cursor:
        return cursor.execute(query).fetchall()
