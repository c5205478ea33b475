{#-
    Cumulative reads of each register in one direction ('import' or 'export'), in kWh: from the
    profile logs (import in log 1, export in log 2) and from the sync's own register reads, one
    row per register and timestamp (a sync read at the instant of a profile record gives way
    to it). A register with direction_reversed reads the other direction's columns.
-#}
{% macro register_reads(direction) -%}
{%- set other = 'export' if direction == 'import' else 'import' -%}
{%- set logs = {
    'import': (ref('stg_flows_raw__profile_log_1'), 'import'),
    'export': (ref('stg_flows_raw__profile_log_2'), 'export'),
} -%}
with

registers as (

    -- A register the meter no longer has (replaced) would take its successor's reads.
    select register_id, meter_id, element, direction_reversed
    from {{ ref('meter_registers') }}
    where status = 'enabled'

),

profile_reads as (

    {%- for reversed, column_direction in [(false, direction), (true, other)] %}
    {%- set log, prefix = logs[column_direction] %}
    select
        registers.register_id,
        registers.meter_id,
        log.record_timestamp as "timestamp",
        case
            when registers.element = 'B' then log.{{ prefix }}_b_wh else log.{{ prefix }}_a_wh
        end as wh
    from registers
    inner join {{ log }} as log on registers.meter_id = log.meter_id
    where registers.direction_reversed = {{ reversed }}
    {% if not loop.last %}
    union all
    {% endif -%}
    {%- endfor %}

),

sync_reads as (

    {%- for reversed, column_direction in [(false, direction), (true, other)] %}
    select
        registers.register_id,
        registers.meter_id,
        snapshots.polled_at as "timestamp",
        case
            when registers.element = 'B' then snapshots.{{ column_direction }}_b
            else snapshots.{{ column_direction }}_a
        end as wh
    from registers
    inner join {{ ref('stg_flows_raw__meter_sync_snapshots') }} as snapshots
        on registers.meter_id = snapshots.meter_id
    where registers.direction_reversed = {{ reversed }}
    {% if not loop.last %}
    union all
    {% endif -%}
    {%- endfor %}

)

select register_id, meter_id, "timestamp", round(wh / 1000.0, 3)::numeric(14, 3) as read, 'profile_log' as source
from profile_reads
where wh is not null

union all

select register_id, meter_id, "timestamp", round(wh / 1000.0, 3)::numeric(14, 3) as read, 'sync' as source
from sync_reads
where
    wh is not null
    and not exists (
        select 1
        from profile_reads
        where
            profile_reads.register_id = sync_reads.register_id
            and profile_reads."timestamp" = sync_reads."timestamp"
            and profile_reads.wh is not null
    )
{%- endmacro %}
