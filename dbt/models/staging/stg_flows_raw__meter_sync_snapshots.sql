-- A plain select, not the usual `with source as (...), renamed as (...)`: PostgreSQL
-- does not flatten that shape of view, so marts querying it for one meter's latest
-- rows would lose the (meter_id, polled_at) index and scan every row.
select
    -- ids
    sync_id,
    meter_id,
    serial,

    -- outcome
    outcome,
    error_class,
    error_message,
    object_errors,

    -- readings
    balance,
    emergency_credit,
    clock_time_diff_seconds,
    csq,
    csq_operator,
    voltage,
    import_a,
    export_a,
    import_b,
    export_b,
    firmware,
    hardware,
    prepay_enabled,
    dst_enabled,
    tariffs_active,
    tariffs_future,

    -- timestamps
    polled_at,
    finished_at,
    meter_clock
from {{ source('flows_raw', 'meter_sync_snapshots') }}
