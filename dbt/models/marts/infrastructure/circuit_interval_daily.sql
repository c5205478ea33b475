{{ config(materialized='view') }}
-- kWh per circuit per UK day (Europe/London: 46, 48 or 50 half-hours), from
-- circuit_interval_hh, with how complete the day is: register half-hours expected (the
-- registers linked in each half-hour the circuit has rows for) against those actual,
-- estimated, missing and suspect.
with

half_hours as (

    select
        *,
        {{ uk_day('"timestamp"') }} as date
    from {{ ref('circuit_interval_hh') }}

)

select
    circuit_id,
    circuit_name,
    circuit_type,
    site_id,
    site_code,
    date,
    sum(import_kwh)::numeric(14, 3) as import_kwh,
    sum(export_kwh)::numeric(14, 3) as export_kwh,
    {{ uk_day_half_hours('date') }} as half_hours_in_day,
    count(*)::int as half_hours,
    sum(registers)::int as register_half_hours,
    sum(registers_actual)::int as register_half_hours_actual,
    sum(registers_estimated)::int as register_half_hours_estimated,
    sum(registers_missing)::int as register_half_hours_missing,
    sum(registers_suspect)::int as register_half_hours_suspect,
    round(
        sum(registers_actual + registers_estimated)::numeric / sum(registers), 4
    )::numeric(5, 4) as completeness
from half_hours
group by circuit_id, circuit_name, circuit_type, site_id, site_code, date
