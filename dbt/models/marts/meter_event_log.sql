{{ config(materialized='view') }}

-- One row per event a meter logged, its type named. A view, not a table: the event log grows by
-- every meter's events every day, and a table would be copied whole on every build (each sync
-- cycle); the view reads the raw table's (meter_id, event_timestamp) key and month partitions
-- instead, so a query for some meters and days costs what it asks for.
-- An id missing from meter_event_types is named UNKNOWN_<id>, so that every row has a name and
-- new ids show up in a group by.
select
    -- ids
    events.meter_id,
    events.serial,

    -- event
    events.event_timestamp as "timestamp",
    events.event_id as event_type,
    coalesce(event_types.name, 'UNKNOWN_' || events.event_id) as event_type_name,
    events.event_set,
    events.event_id = 48 as is_topup  -- CREDIT_TOKEN_ACCEPTED
from {{ ref('stg_flows_raw__meter_event_log') }} as events
left join {{ ref('meter_event_types') }} as event_types
    on events.event_id = event_types.event_type
