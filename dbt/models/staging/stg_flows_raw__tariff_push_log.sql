-- A plain select, like every staging view here, so PostgreSQL can flatten it into the marts'
-- queries (see stg_flows_raw__meter_sync_snapshots.sql).
select
    -- ids
    request_id,
    meter_id,
    serial,
    attempt,
    run_id,

    -- outcome
    outcome,
    reason,
    flagged,
    next_attempt_after,

    -- what was written and read back
    dst_enabled,
    meter_activation,
    read_back,

    -- timestamps
    started_at,
    written_at,
    finished_at
from {{ source('flows_raw', 'tariff_push_log') }}
