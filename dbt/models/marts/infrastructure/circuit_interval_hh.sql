{{ config(materialized='view') }}
-- kWh per circuit per half-hour, summed over the registers linked to the circuit during that
-- half-hour only ([start_time, end_time)): a register moved to another circuit at 14:00 counts
-- for the old circuit before and for the new one after. Like register_interval_daily, the sums
-- take actual and estimated half-hours; the counts say how complete each sum is. A solar
-- circuit is judged on its export, the others on their import.
with

linked as (

    select
        links.circuit_id,
        links.circuit_name,
        links.circuit_type,
        intervals."timestamp",
        intervals.import_kwh,
        intervals.export_kwh,
        intervals.quality as import_quality,
        intervals.export_quality,
        case
            when links.circuit_type = 'solar' then intervals.export_quality
            else intervals.quality
        end as quality
    from {{ ref('circuit_registers') }} as links
    inner join {{ ref('register_interval_hh') }} as intervals
        on
        links.register_id = intervals.register_id
        and links.start_time <= intervals."timestamp"
        and (links.end_time is null or links.end_time > intervals."timestamp")

)

select
    linked.circuit_id,
    linked.circuit_name,
    linked.circuit_type,
    circuits.site_id,
    circuits.site_code,
    linked."timestamp",
    coalesce(
        sum(linked.import_kwh) filter (where linked.import_quality in ('actual', 'estimated')), 0
    )::numeric(14, 3) as import_kwh,
    coalesce(
        sum(linked.export_kwh) filter (where linked.export_quality in ('actual', 'estimated')), 0
    )::numeric(14, 3) as export_kwh,
    count(*)::int as registers,
    count(*) filter (where linked.quality = 'actual')::int as registers_actual,
    count(*) filter (where linked.quality = 'estimated')::int as registers_estimated,
    count(*) filter (where linked.quality = 'missing')::int as registers_missing,
    count(*) filter (where linked.quality = 'suspect')::int as registers_suspect,
    round(
        count(*) filter (where linked.quality in ('actual', 'estimated'))::numeric / count(*), 4
    )::numeric(5, 4) as completeness
from linked
inner join {{ ref('circuits') }} as circuits on linked.circuit_id = circuits.id
group by
    linked.circuit_id,
    linked.circuit_name,
    linked.circuit_type,
    circuits.site_id,
    circuits.site_code,
    linked."timestamp"
