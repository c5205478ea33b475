{{ config(materialized='view') }}
-- Per register per UK day: how many of the day's half-hours (46, 48 or 50) are actual,
-- estimated, missing or suspect.
select
    daily.register_id,
    daily.meter_id,
    registry.serial,
    daily.element,
    daily.date,
    daily.half_hours_expected,
    daily.half_hours_actual,
    daily.half_hours_estimated,
    daily.half_hours_missing,
    daily.half_hours_suspect,
    round(
        (daily.half_hours_actual + daily.half_hours_estimated)::numeric
        / daily.half_hours_expected,
        4
    )::numeric(5, 4) as completeness
from {{ ref('register_interval_daily') }} as daily
inner join {{ ref('meter_registry') }} as registry on daily.meter_id = registry.id
