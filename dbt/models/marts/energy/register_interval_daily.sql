-- kWh per register per UK day (Europe/London: 46, 48 or 50 half-hours), with the count of
-- half-hours of each quality. Incrementally, the days register_interval_hh changed take in its
-- changes (flows_staging.energy_daily_changes: the sums of the half-hours it inserted less
-- those it deleted; macros/energy_build.sql), which are then deleted in the same transaction,
-- and the meters' days changed are handed on to meter_consumption_daily. From scratch, every
-- day is summed from the half-hours.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['register_id', 'date'],
    on_schema_change='fail',
    indexes=[{'columns': ['date', 'register_id'], 'unique': true}],
    pre_hook=[
        "{{ analyze_if_no_statistics() }}",
        "{{ lock_changes(energy_daily_changes_relation()) }}",
    ],
    post_hook=["{{ hand_on_meter_days_changed() }}"],
) }}
-- depends_on: {{ ref('register_interval_hh') }}
with

{% if is_incremental() -%}
changes as (

    select
        register_id,
        meter_id,
        element,
        date,
        sum(import_kwh) as import_kwh,
        sum(export_kwh) as export_kwh,
        sum(half_hours_actual) as half_hours_actual,
        sum(half_hours_estimated) as half_hours_estimated,
        sum(half_hours_suspect) as half_hours_suspect
    from {{ energy_daily_changes_relation() }}
    group by register_id, meter_id, element, date

),

days as (

    select
        changes.register_id,
        changes.meter_id,
        changes.element,
        changes.date,
        coalesce(built.import_kwh, 0) + changes.import_kwh as import_kwh,
        coalesce(built.export_kwh, 0) + changes.export_kwh as export_kwh,
        coalesce(built.half_hours_actual, 0) + changes.half_hours_actual as half_hours_actual,
        coalesce(built.half_hours_estimated, 0) + changes.half_hours_estimated
            as half_hours_estimated,
        coalesce(built.half_hours_suspect, 0) + changes.half_hours_suspect
            as half_hours_suspect
    from changes
    left join {{ this }} as built
        on
        changes.register_id = built.register_id
        and changes.date = built.date
        and built.date >= {{ changes_since(energy_daily_changes_relation()) }}

)
{%- else -%}
days as (

    {{ energy_daily_sums('intervals') }}
    from {{ ref('register_interval_hh') }} as intervals
    {{ energy_daily_sums_group_by('intervals') }}

)
{%- endif %}

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
