-- One row per registry meter: its latest good values and its health from the latest attempt.
-- Values come from the latest read that reached the meter, so a failed read never blanks them.
-- Each lateral names the staging view itself rather than a shared CTE: PostgreSQL would
-- materialize a CTE used four times (every snapshot ever landed) instead of reading one row
-- per meter from the (meter_id, polled_at) index.
with

registry as (

    -- Deleted meters leave the marts; passive, disabled and three-phase ones stay, not polled.
    select id, polled, not_polled_reason
    from {{ ref('meter_registry') }}
    where installation_status <> 'deleted'

)

select
    registry.id,
    good.balance,
    good.emergency_credit,
    good.polled_at as balance_updated_at,
    good.tariffs_active,
    good.tariffs_future,
    good.csq,
    registry.polled,
    registry.not_polled_reason,
    {{ health_of('attempt.outcome') }} as health,
    {{ health_details_of('attempt.outcome', 'attempt.error_class', 'attempt.error_message') }}
        as health_details,
    healthy.polled_at as last_healthy_at,
    good.clock_time_diff_seconds,
    good.voltage,
    good.import_a,
    good.export_a,
    good.import_b,
    good.export_b,
    first_seen.polled_at as created_at,
    attempt.polled_at as updated_at

from registry

left join lateral (
    select *
    from {{ ref('stg_flows_raw__meter_sync_snapshots') }} as snapshots
    where snapshots.meter_id = registry.id and snapshots.balance is not null
    order by snapshots.polled_at desc
    limit 1
) as good on true

left join lateral (
    select outcome, error_class, error_message, polled_at
    from {{ ref('stg_flows_raw__meter_sync_snapshots') }} as snapshots
    where snapshots.meter_id = registry.id and snapshots.outcome <> 'skipped'
    order by snapshots.polled_at desc
    limit 1
) as attempt on true

left join lateral (
    select polled_at
    from {{ ref('stg_flows_raw__meter_sync_snapshots') }} as snapshots
    where snapshots.meter_id = registry.id and snapshots.outcome = 'ok'
    order by snapshots.polled_at desc
    limit 1
) as healthy on true

left join lateral (
    select polled_at
    from {{ ref('stg_flows_raw__meter_sync_snapshots') }} as snapshots
    where snapshots.meter_id = registry.id
    order by snapshots.polled_at
    limit 1
) as first_seen on true
