-- The window of half-hours each meter's energy is rebuilt over in this build
-- (macros/energy_build.sql tells the whole scheme).
-- Analyzed once built: the energy model's plan depends on knowing how many meters it holds.
{{ config(post_hook='analyze {{ this }}') }}
{%- set from_scratch = energy_from_scratch() %}
-- depends_on: {{ ref('int_energy_loads') }}
with

-- The meters the loads not built yet replaced rows of, and the span of the records landed.
new_by_meter as (

    {% if from_scratch -%}
    select
        meter_id,
        min(record_timestamp) as first_new,
        max(record_timestamp) as last_new
    from (
        select meter_id, record_timestamp
        from {{ ref('stg_flows_raw__profile_log_1') }}
        union all
        select meter_id, record_timestamp
        from {{ ref('stg_flows_raw__profile_log_2') }}
    ) as every_read
    group by meter_id
    {%- else -%}
    select
        loaded.meter_id,
        min(loads.first_record_at) as first_new,
        max(loads.last_record_at) as last_new
    from {{ ref('int_energy_loads') }} as loads
    cross join unnest(loads.meter_ids) as loaded (meter_id)
    where loads.first_record_at is not null
    group by loaded.meter_id
    {%- endif %}

),

built_state as (

    select meter_id, first_read_at, built_through
    from {{ energy_state_relation() }}
    {% if from_scratch -%}
    where false
    {%- endif %}

),

meters as (

    select distinct meter_id
    from {{ ref('meter_registers') }}
    where status = 'enabled'

),

grid as (

    select
        {{ floor_half_hour(
            'greatest((select max(built_through) from built_state),'
            ~ ' (select max(last_new) from new_by_meter))'
        ) }} as grid_end

),

candidates as (

    select
        meters.meter_id,
        new_by_meter.first_new,
        built_state.built_through,
        coalesce(built_state.first_read_at, new_by_meter.first_new) as first_read_at
    from meters
    left join new_by_meter on meters.meter_id = new_by_meter.meter_id
    left join built_state on meters.meter_id = built_state.meter_id
    where new_by_meter.meter_id is not null or built_state.meter_id is not null

),

-- Materialized: the window's start is both selected and filtered on below, and inlined there
-- each of its lookups would run twice per meter.
bounded as materialized (

    select
        candidates.*,
        -- The read before the first new one, if near enough to bound an estimable gap: the
        -- half-hours from it on may change. (Per log: both registers' gaps are rebuilt.) The
        -- latest one only, read backwards on the log's (meter_id, record_timestamp) key: a
        -- max() here reads every record of the day before.
        least(
            {%- for log in ['stg_flows_raw__profile_log_1', 'stg_flows_raw__profile_log_2'] %}
            (
                select log.record_timestamp
                from {{ ref(log) }} as log
                where
                    log.meter_id = candidates.meter_id
                    and log.record_timestamp < candidates.first_new
                    and log.record_timestamp >= candidates.first_new
                    - make_interval(
                        mins => 30 * ({{ var('energy_max_estimated_gap_half_hours') }} + 1)
                    )
                order by log.record_timestamp desc
                limit 1
            ){{ ',' if not loop.last }}
            {%- endfor %}
        ) as last_before
    from candidates

),

windows as (

    select
        meter_id,
        first_read_at,
        {{ floor_half_hour(
            "case
                when first_new is null then built_through
                when built_through is null then " ~ uk_day_start(uk_day('first_new')) ~ "
                else least(built_through, coalesce(last_before, first_new))
            end"
        ) }} as starts_at
    from bounded

)

select
    windows.meter_id,
    windows.first_read_at,
    windows.starts_at,
    grid.grid_end as ends_at,
    -- Which of the two halves of the meters (int_energy_half_hours_0 and _1) builds it.
    (row_number() over (order by windows.meter_id) % 2)::int as shard
from windows
cross join grid
where windows.starts_at < grid.grid_end
