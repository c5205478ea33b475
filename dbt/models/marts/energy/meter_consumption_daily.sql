-- kWh per meter per UK day by element, import and export, with the share of the day's
-- half-hours (over all the meter's registers) that are actual, estimated, missing or suspect.
-- Incrementally, the days register_interval_daily changed are summed again
-- (flows_staging.energy_meter_days_changed, deleted once taken in; macros/energy_build.sql).
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['meter_id', 'date'],
    on_schema_change='fail',
    indexes=[{'columns': ['date', 'meter_id'], 'unique': true}],
    pre_hook=[
        "{{ analyze_if_no_statistics() }}",
        "{{ lock_changes(energy_meter_days_changed_relation()) }}",
    ],
    post_hook=["delete from {{ energy_meter_days_changed_relation() }}"],
) }}
with

{% if is_incremental() -%}
changed as (

    select distinct meter_id, date
    from {{ energy_meter_days_changed_relation() }}

),

{% endif -%}
registers_daily as (

    select daily.*
    from {{ ref('register_interval_daily') }} as daily
    {% if is_incremental() -%}
    inner join changed
        on
        daily.meter_id = changed.meter_id
        and daily.date = changed.date
    where daily.date >= {{ changes_since(energy_meter_days_changed_relation()) }}
    {%- endif %}

),

days as (

    select
        meter_id,
        date,
        sum(import_kwh) as import_kwh,
        sum(import_kwh) filter (where element in ('A', 'SINGLE')) as import_a_kwh,
        sum(import_kwh) filter (where element = 'B') as import_b_kwh,
        sum(export_kwh) as export_kwh,
        sum(export_kwh) filter (where element in ('A', 'SINGLE')) as export_a_kwh,
        sum(export_kwh) filter (where element = 'B') as export_b_kwh,
        sum(half_hours_expected) as half_hours_expected,
        sum(half_hours_actual) as half_hours_actual,
        sum(half_hours_estimated) as half_hours_estimated,
        sum(half_hours_missing) as half_hours_missing,
        sum(half_hours_suspect) as half_hours_suspect
    from registers_daily
    group by meter_id, date

)

select
    days.meter_id,
    registry.serial,
    days.date,
    days.import_kwh::numeric(14, 3) as import_kwh,
    days.import_a_kwh::numeric(14, 3) as import_a_kwh,
    days.import_b_kwh::numeric(14, 3) as import_b_kwh,
    days.export_kwh::numeric(14, 3) as export_kwh,
    days.export_a_kwh::numeric(14, 3) as export_a_kwh,
    days.export_b_kwh::numeric(14, 3) as export_b_kwh,
    round(days.half_hours_actual::numeric / days.half_hours_expected, 4)::numeric(5, 4)
        as actual_share,
    round(days.half_hours_estimated::numeric / days.half_hours_expected, 4)::numeric(5, 4)
        as estimated_share,
    round(days.half_hours_missing::numeric / days.half_hours_expected, 4)::numeric(5, 4)
        as missing_share,
    round(days.half_hours_suspect::numeric / days.half_hours_expected, 4)::numeric(5, 4)
        as suspect_share
from days
inner join {{ ref('stg_flows_raw__meter_registry') }} as registry
    on days.meter_id = registry.meter_id
