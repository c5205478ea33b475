-- A plain select, like every staging view here, so PostgreSQL can flatten it into the marts'
-- queries (see stg_flows_raw__meter_sync_snapshots.sql).
select
    -- ids
    token_id,
    meter_id,
    serial,

    -- A token is money until the meter accepts it: beyond the raw table, only enough of it to
    -- tell tokens apart on the phone.
    right(token, 4) as token_last4,

    -- request
    requested_by,
    requested_at,

    -- the write path's cancellation, when the meter left the registry or was deleted there
    cancelled_at,
    cancel_reason
from {{ source('flows_raw', 'topup_tokens') }}
