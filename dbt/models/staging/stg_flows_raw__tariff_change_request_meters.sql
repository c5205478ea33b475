-- A plain select, like every staging view here, so PostgreSQL can flatten it into the marts'
-- queries (see stg_flows_raw__meter_sync_snapshots.sql).
select
    request_id,
    meter_id,
    serial
from {{ source('flows_raw', 'tariff_change_request_meters') }}
