-- Health history: a row when a meter's health or the reason for it changes (a meter failing
-- with a different error counts). Passive meters are never polled and have no health.
with

{{ history_window() }},

readings as (

    select
        meter_id,
        polled_at as "timestamp",
        {{ health_of('outcome') }} as health,
        error_class,
        {{ health_details_of('outcome', 'error_class', 'error_message', 'object_errors') }}
            as health_details
    from {{ ref('stg_flows_raw__meter_sync_snapshots') }}
    where
        outcome <> 'skipped'
        and polled_at > (select history_window.starts_after from history_window)

),

{{ changed_readings(["health", "error_class"], carried_columns=["health_details"]) }}
