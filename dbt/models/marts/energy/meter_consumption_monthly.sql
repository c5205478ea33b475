{{ config(materialized='view') }}
-- kWh per meter per UK calendar month, summed from meter_consumption_daily, with the shares
-- of the month's half-hours so far that are actual, estimated, missing or suspect.
select
    meter_id,
    serial,
    date_trunc('month', date)::date as month,
    count(*)::int as days,
    sum(import_kwh)::numeric(14, 3) as import_kwh,
    sum(import_a_kwh)::numeric(14, 3) as import_a_kwh,
    sum(import_b_kwh)::numeric(14, 3) as import_b_kwh,
    sum(export_kwh)::numeric(14, 3) as export_kwh,
    sum(export_a_kwh)::numeric(14, 3) as export_a_kwh,
    sum(export_b_kwh)::numeric(14, 3) as export_b_kwh,
    round(avg(actual_share), 4)::numeric(5, 4) as actual_share,
    round(avg(estimated_share), 4)::numeric(5, 4) as estimated_share,
    round(avg(missing_share), 4)::numeric(5, 4) as missing_share,
    round(avg(suspect_share), 4)::numeric(5, 4) as suspect_share
from {{ ref('meter_consumption_daily') }}
group by meter_id, serial, date_trunc('month', date)
