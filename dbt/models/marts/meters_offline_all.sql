{{ config(materialized='view') }}

-- Polled meters with no successful contact (any exchange the meter answered, a partial read
-- too) for at least the offline threshold; a meter never reached at all has no last_online.
-- A view, so "now" is the time of the query.
with

contact as (

    select
        registry.id,
        registry.serial,
        registry.name,
        registry.esco,
        shadows.last_contact_at as last_online
    from {{ ref('meter_registry') }} as registry
    inner join {{ ref('meter_shadows') }} as shadows on registry.id = shadows.id
    where registry.polled

)

select
    id,
    serial,
    name,
    esco,
    last_online,
    floor(extract(epoch from ({{ current_timestamp() }} - last_online)) / 60)::integer
        as minutes_offline
from contact
where
    last_online is null
    or last_online
    <= {{ current_timestamp() }} - make_interval(hours => {{ var('offline_after_hours') }})
