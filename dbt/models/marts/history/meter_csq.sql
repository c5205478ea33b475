-- Signal quality history: a row when a meter's CSQ differs from its previous reading.
with

{{ history_window() }},

readings as (

    select
        meter_id,
        polled_at as "timestamp",
        csq
    from {{ ref('stg_flows_raw__meter_sync_snapshots') }}
    where
        csq is not null
        and polled_at > (select history_window.starts_after from history_window)

),

{{ changed_readings(['csq']) }}
