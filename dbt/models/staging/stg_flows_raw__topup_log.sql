-- A plain select, like every staging view here, so PostgreSQL can flatten it into the marts'
-- queries (see stg_flows_raw__meter_sync_snapshots.sql).
select
    -- ids
    token_id,
    meter_id,
    serial,
    attempt,
    run_id,

    -- outcome
    outcome,
    reason,
    flagged,
    next_attempt_after,

    -- timestamps
    started_at,
    finished_at
from {{ source('flows_raw', 'topup_log') }}
