-- kWh per register per UK day (Europe/London: 46, 48 or 50 half-hours), with the count of
-- half-hours of each quality. Rebuilt for the UK days the energy build's windows touch.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['register_id', 'date'],
    on_schema_change='fail',
    indexes=[{'columns': ['date', 'register_id'], 'unique': true}],
) }}
{%- set since = energy_window_bound('starts_at', as_uk_day_start=true) %}
-- depends_on: {{ ref('int_energy_windows') }}
with

windows as (

    select meter_id, {{ uk_day_start(uk_day('starts_at')) }} as rebuild_from
    from {{ ref('int_energy_windows') }}

),

half_hours as (

    select
        intervals.register_id,
        intervals.meter_id,
        intervals.element,
        intervals.import_kwh,
        intervals.export_kwh,
        intervals.quality,
        intervals.export_quality,
        {{ uk_day('intervals."timestamp"') }} as date
    from {{ ref('register_interval_hh') }} as intervals
    {% if is_incremental() -%}
    inner join windows
        on
        intervals.meter_id = windows.meter_id
        and intervals."timestamp" >= windows.rebuild_from
    where intervals."timestamp" >= {{ since }}
    {%- endif %}

),

days as (

    select
        register_id,
        meter_id,
        element,
        date,
        coalesce(sum(import_kwh) filter (where quality in ('actual', 'estimated')), 0)
            as import_kwh,
        coalesce(sum(export_kwh) filter (where export_quality in ('actual', 'estimated')), 0)
            as export_kwh,
        count(*) filter (where quality = 'actual') as half_hours_actual,
        count(*) filter (where quality = 'estimated') as half_hours_estimated,
        count(*) filter (where quality = 'suspect') as half_hours_suspect,
        count(*) filter (where quality = 'missing') as half_hours_missing_rows
    from half_hours
    group by register_id, meter_id, element, date

)

select
    register_id,
    meter_id,
    element,
    date,
    import_kwh::numeric(14, 3) as import_kwh,
    export_kwh::numeric(14, 3) as export_kwh,
    {{ uk_day_half_hours('date') }} as half_hours_expected,
    half_hours_actual::int as half_hours_actual,
    half_hours_estimated::int as half_hours_estimated,
    -- A half-hour not built yet (the day is still going, or before the first read) is missing too.
    (
        {{ uk_day_half_hours('date') }}
        - half_hours_actual
        - half_hours_estimated
        - half_hours_suspect
    )::int
        as half_hours_missing,
    half_hours_suspect::int as half_hours_suspect
from days
