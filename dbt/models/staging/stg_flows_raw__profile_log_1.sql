-- A plain select, like every staging view here, so PostgreSQL flattens it into the energy
-- models and keeps the raw table's (meter_id, record_timestamp) index and partition pruning.
select
    -- ids
    meter_id,
    serial,

    -- the record
    record_timestamp,
    status,
    -- Status bit 0: the meter reset its log or registers at this record.
    (status & 1) = 1 as is_reset,
    -- The meter sent this timestamp again with other values (the first is kept).
    coalesce(conflicting_duplicate, false) as is_conflicting_duplicate,
    import_a_wh,
    import_b_wh,

    -- landing
    loaded_at
from {{ source('flows_raw', 'profile_log_1') }}
