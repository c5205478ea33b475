{{ config(materialized='view') }}

-- Meters that went offline within the recent window: last contact between the offline
-- threshold (default 3 hours) and the recent window (default 24 hours) ago.
select
    serial,
    name,
    esco,
    last_online,
    minutes_offline
from {{ ref('meters_offline_all') }}
where
    last_online
    >= {{ current_timestamp() }} - make_interval(hours => {{ var('offline_recent_hours') }})
