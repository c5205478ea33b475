-- A plain select, like every staging view here, so PostgreSQL can flatten it into the marts'
-- queries: a query for one meter's events over some days keeps the raw table's
-- (meter_id, event_timestamp, ...) key and reads only the months it asks for.
select
    -- ids
    meter_id,
    serial,

    -- event
    event_timestamp,
    event_id,
    event_set,

    -- lineage
    loaded_at
from {{ source('flows_raw', 'meter_event_log') }}
