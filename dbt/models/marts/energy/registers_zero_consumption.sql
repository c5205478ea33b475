{{ config(materialized='view') }}
-- Registers that recorded no consumption on each of the last var energy_stuck_days complete UK
-- days, every half-hour of them known (actual or estimated), while the meter answered the
-- syncs: a stuck register or an empty property.
with

recent as (

    select
        register_id,
        meter_id,
        element,
        count(*) as days,
        sum(import_kwh) as import_kwh,
        bool_and(half_hours_actual + half_hours_estimated = half_hours_expected) as all_known
    from {{ ref('register_interval_daily') }}
    where
        date >= {{ uk_day('now()') }} - {{ var('energy_stuck_days') }}
        and date < {{ uk_day('now()') }}
    group by register_id, meter_id, element

)

select
    recent.register_id,
    recent.meter_id,
    registry.serial,
    recent.element,
    recent.days as zero_days,
    shadows.last_contact_at
from recent
inner join {{ ref('meter_registry') }} as registry on recent.meter_id = registry.id
inner join {{ ref('meter_shadows') }} as shadows on recent.meter_id = shadows.id
where
    recent.days = {{ var('energy_stuck_days') }}
    and recent.all_known
    and recent.import_kwh = 0
    and shadows.last_contact_at
    >= now() - make_interval(days => {{ var('energy_stuck_days') }})
