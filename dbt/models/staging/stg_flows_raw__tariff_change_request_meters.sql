-- A plain select, like every staging view here, so PostgreSQL can flatten it into the marts'
-- queries (see stg_flows_raw__meter_sync_snapshots.sql).
select
    -- ids
    request_id,
    meter_id,
    serial,

    -- the rates this meter gets (empty on rows stored before they were kept per meter)
    rates_applied,
    unit_rate_element_b as unit_rate_b,

    -- cancelled by the write path: the meter left the registry or was deleted there
    cancelled_at,
    cancel_reason
from {{ source('flows_raw', 'tariff_change_request_meters') }}
