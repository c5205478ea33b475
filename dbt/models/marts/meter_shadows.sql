-- One row per registry meter (deleted meters left out): its latest values and its health from
-- the latest attempt. Each value comes from the latest read that got it, so neither a failed
-- read nor a partial one (the meter refused some objects) blanks what was read before, and a
-- partial read still moves on every value it did get.
-- Each lateral (macro latest_snapshot) names the staging view itself rather than a shared CTE:
-- PostgreSQL would materialize a CTE used this often (every snapshot ever landed) instead of
-- reading one row per meter from the (meter_id, polled_at) index. Snapshots landed before
-- values_read existed count as having read what they hold.
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

left join lateral {{ latest_snapshot(
    ['balance', 'polled_at'], 'balance is not null'
) }} as balance on true

left join lateral {{ latest_snapshot(
    ['tariffs_active', 'emergency_credit'], 'tariffs_active is not null'
) }} as tariffs on true

-- Null is an answer here (nothing scheduled), so the latest read of the set, not of a value.
left join lateral {{ latest_snapshot(
    ['tariffs_future'],
    "values_read ? 'tariffs_future' or (values_read is null and balance is not null)"
) }} as future on true

left join lateral {{ latest_snapshot(['csq'], 'csq is not null') }} as signal on true

left join lateral {{ latest_snapshot(
    ['clock_time_diff_seconds'], 'clock_time_diff_seconds is not null'
) }} as clock on true

left join lateral {{ latest_snapshot(['voltage'], 'voltage is not null') }} as supply on true

left join lateral {{ latest_snapshot(
    ['import_a', 'export_a', 'import_b', 'export_b'], 'import_a is not null'
) }} as registers on true

left join lateral {{ latest_snapshot(
    ['outcome', 'error_class', 'error_message', 'object_errors', 'polled_at'],
    "outcome <> 'skipped'"
) }} as attempt on true

left join lateral {{ latest_snapshot(['polled_at'], "outcome = 'ok'") }} as healthy on true

-- Contact is any successful exchange: a partial read reached the meter.
left join lateral {{ latest_snapshot(
    ['polled_at'], "outcome in ('ok', 'partial')"
) }} as contact on true

left join lateral {{ latest_snapshot(['polled_at'], first=true) }} as first_seen on true
