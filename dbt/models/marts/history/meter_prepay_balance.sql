-- Balance history: a row when a meter's balance or emergency credit differs from its previous
-- reading (macros/history.sql).
with

{{ history_window() }},

readings as (

    select
        meter_id,
        polled_at as "timestamp",
        balance,
        emergency_credit
    from {{ ref('stg_flows_raw__meter_sync_snapshots') }}
    where
        balance is not null
        and polled_at > (select history_window.starts_after from history_window)

),

{{ changed_readings(['balance', 'emergency_credit']) }}
