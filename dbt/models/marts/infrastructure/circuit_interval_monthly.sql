{{ config(materialized='view') }}
-- kWh per circuit per UK calendar month, from circuit_interval_daily.
select
    circuit_id,
    circuit_name,
    circuit_type,
    site_id,
    site_code,
    date_trunc('month', date)::date as month,
    count(*)::int as days,
    sum(import_kwh)::numeric(14, 3) as import_kwh,
    sum(export_kwh)::numeric(14, 3) as export_kwh,
    sum(register_half_hours)::int as register_half_hours,
    sum(register_half_hours_actual)::int as register_half_hours_actual,
    sum(register_half_hours_estimated)::int as register_half_hours_estimated,
    sum(register_half_hours_missing)::int as register_half_hours_missing,
    sum(register_half_hours_suspect)::int as register_half_hours_suspect,
    round(
        sum(register_half_hours_actual + register_half_hours_estimated)::numeric
        / sum(register_half_hours),
        4
    )::numeric(5, 4) as completeness
from {{ ref('circuit_interval_daily') }}
group by circuit_id, circuit_name, circuit_type, site_id, site_code, date_trunc('month', date)
