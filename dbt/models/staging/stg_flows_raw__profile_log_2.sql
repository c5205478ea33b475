-- A plain select (see stg_flows_raw__profile_log_1.sql).
select
    -- ids
    meter_id,
    serial,

    -- the record
    record_timestamp,
    status,
    (status & 1) = 1 as is_reset,
    coalesce(conflicting_duplicate, false) as is_conflicting_duplicate,
    export_a_wh,
    export_b_wh,
    reactive_import_a_varh,
    reactive_export_a_varh,
    reactive_import_b_varh,
    reactive_export_b_varh,
    voltage_raw,

    -- landing
    loaded_at
from {{ source('flows_raw', 'profile_log_2') }}
