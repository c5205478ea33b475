-- One row per registry meter (deleted meters left out): its latest values and its health from
-- the latest attempt. Each value comes from the latest read that got it, so neither a failed
-- read nor a partial one (the meter refused some objects) blanks what was read before, and a
-- partial read still moves on every value it did get.
-- Each lateral names the staging view itself rather than a shared CTE: PostgreSQL would
-- materialize a CTE used this often (every snapshot ever landed) instead of reading one row
-- per meter from the (meter_id, polled_at) index. Snapshots landed before values_read existed
-- count as having read what they hold.
with

registry as (

    -- Deleted meters leave the marts; passive, disabled and three-phase ones stay, not polled.
    select id, polled, not_polled_reason
    from {{ ref('meter_registry') }}
    where installation_status <> 'deleted'

)

select
    registry.id,
    balance.balance,
    tariffs.emergency_credit,
    balance.polled_at as balance_updated_at,
    tariffs.tariffs_active,
    future.tariffs_future,
    signal.csq,
    registry.polled,
    registry.not_polled_reason,
    {{ health_of('attempt.outcome') }} as health,
    {{ health_details_of('attempt.outcome', 'attempt.error_class', 'attempt.error_message',
        'attempt.object_errors') }} as health_details,
    healthy.polled_at as last_healthy_at,
    contact.polled_at as last_contact_at,
    clock.clock_time_diff_seconds,
    supply.voltage,
    registers.import_a,
    registers.export_a,
    registers.import_b,
    registers.export_b,
    first_seen.polled_at as created_at,
    attempt.polled_at as updated_at

from registry

left join lateral (
    select snapshots.balance, snapshots.polled_at
    from {{ ref('stg_flows_raw__meter_sync_snapshots') }} as snapshots
    where snapshots.meter_id = registry.id and snapshots.balance is not null
    order by snapshots.polled_at desc
    limit 1
) as balance on true

left join lateral (
    select snapshots.tariffs_active, snapshots.emergency_credit
    from {{ ref('stg_flows_raw__meter_sync_snapshots') }} as snapshots
    where snapshots.meter_id = registry.id and snapshots.tariffs_active is not null
    order by snapshots.polled_at desc
    limit 1
) as tariffs on true

-- Null is an answer here (nothing scheduled), so the latest read of the set, not of a value.
left join lateral (
    select snapshots.tariffs_future
    from {{ ref('stg_flows_raw__meter_sync_snapshots') }} as snapshots
    where
        snapshots.meter_id = registry.id
        and (
            'tariffs_future' = any(snapshots.values_read)
            or (snapshots.values_read is null and snapshots.balance is not null)
        )
    order by snapshots.polled_at desc
    limit 1
) as future on true

left join lateral (
    select snapshots.csq
    from {{ ref('stg_flows_raw__meter_sync_snapshots') }} as snapshots
    where snapshots.meter_id = registry.id and snapshots.csq is not null
    order by snapshots.polled_at desc
    limit 1
) as signal on true

left join lateral (
    select snapshots.clock_time_diff_seconds
    from {{ ref('stg_flows_raw__meter_sync_snapshots') }} as snapshots
    where snapshots.meter_id = registry.id and snapshots.clock_time_diff_seconds is not null
    order by snapshots.polled_at desc
    limit 1
) as clock on true

left join lateral (
    select snapshots.voltage
    from {{ ref('stg_flows_raw__meter_sync_snapshots') }} as snapshots
    where snapshots.meter_id = registry.id and snapshots.voltage is not null
    order by snapshots.polled_at desc
    limit 1
) as supply on true

left join lateral (
    select snapshots.import_a, snapshots.export_a, snapshots.import_b, snapshots.export_b
    from {{ ref('stg_flows_raw__meter_sync_snapshots') }} as snapshots
    where snapshots.meter_id = registry.id and snapshots.import_a is not null
    order by snapshots.polled_at desc
    limit 1
) as registers on true

left join lateral (
    select outcome, error_class, error_message, object_errors, polled_at
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

-- Contact is any successful exchange: a partial read reached the meter.
left join lateral (
    select polled_at
    from {{ ref('stg_flows_raw__meter_sync_snapshots') }} as snapshots
    where snapshots.meter_id = registry.id and snapshots.outcome in ('ok', 'partial')
    order by snapshots.polled_at desc
    limit 1
) as contact on true

left join lateral (
    select polled_at
    from {{ ref('stg_flows_raw__meter_sync_snapshots') }} as snapshots
    where snapshots.meter_id = registry.id
    order by snapshots.polled_at
    limit 1
) as first_seen on true
