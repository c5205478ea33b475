{#-
    The incremental history models (balance, CSQ, voltage, health) keep a row only when a
    meter's value differs from its previous reading.

    An incremental run reads the snapshots polled after its window start: the latest sync it
    had seen when it last ran, less a margin (var history_reread_hours) that covers syncs still
    committing at that moment. Each meter's readings are compared with its last row recorded
    at or before the window start, so reading part of the window again is idempotent, and the
    cost of a run follows the new snapshots, not the length of the history.
-#}

{% macro history_watermarks_relation() -%}
    {{ return(api.Relation.create(schema='flows_staging', identifier='history_watermarks')) }}
{%- endmacro %}


{#- Run at the start of every dbt invocation (dbt_project.yml on-run-start). -#}
{% macro create_history_watermarks() -%}
    create schema if not exists flows_staging;
    create table if not exists {{ history_watermarks_relation() }} (
        model text primary key,
        synced_through timestamptz not null,
        recorded_at timestamptz not null default now()
    );
    comment on table {{ history_watermarks_relation() }} is
        'The latest snapshot each incremental history model had seen when it last ran.'
{%- endmacro %}


{#- A CTE `history_window` with one column, starts_after: snapshots polled after it are read. -#}
{% macro history_window(time_column='"timestamp"') -%}
history_window as (

    {#- --full-refresh empties these tables (prepare_history_partitions) instead of dropping them;
        say so here too rather than rely on the emptied table and watermark. -#}
    {% if is_incremental() and not flags.FULL_REFRESH %}
    select coalesce(
        (
            select synced_through
            from {{ history_watermarks_relation() }}
            where model = '{{ this.identifier }}'
        ),
        (select max({{ time_column }}) from {{ this }}),
        '-infinity'::timestamptz
    ) - make_interval(hours => {{ var('history_reread_hours') }}) as starts_after
    {% else %}
    select '-infinity'::timestamptz as starts_after
    {% endif %}

)
{%- endmacro %}


{#-
    The rest of a history model, after its CTEs `history_window` and `readings`
    (meter_id, "timestamp", value columns, carried columns): the readings whose value columns
    differ from the meter's previous reading, the first reading of a meter always counting.
    Carried columns are kept alongside but not compared.
-#}
{% macro changed_readings(value_columns, carried_columns=[]) -%}
{%- set columns = (value_columns + carried_columns) | join(', ') -%}
{% if is_incremental() %}
baseline as (

    select last_recorded.*
    from (select distinct meter_id from readings) as meters
    cross join lateral (
        select meter_id, "timestamp", {{ columns }}
        from {{ this }} as recorded
        where
            recorded.meter_id = meters.meter_id
            and recorded."timestamp" <= (select starts_after from history_window)
        order by recorded."timestamp" desc
        limit 1
    ) as last_recorded

),

candidates as (

    select *, false as recorded from readings
    union all
    select *, true as recorded from baseline

),
{% else %}
candidates as (

    select *, false as recorded from readings

),
{% endif %}

compared as (

    select
        *,
        {% for column in value_columns -%}
        lag({{ column }}) over by_meter as previous_{{ column }},
        {% endfor -%}
        row_number() over by_meter as position
    from candidates
    window by_meter as (partition by meter_id order by "timestamp")

)

select meter_id, "timestamp", {{ columns }}
from compared
where
    not recorded
    and (
        position = 1
        {% for column in value_columns -%}
        or {{ column }} is distinct from previous_{{ column }}
        {% endfor %}
    )
{%- endmacro %}


{#- Post-hook of the history models: remember the latest sync this run could see. -#}
{% macro record_history_watermark() -%}
    insert into {{ history_watermarks_relation() }} (model, synced_through)
    select '{{ this.identifier }}', max(polled_at)
    from {{ ref('stg_flows_raw__meter_sync_snapshots') }}
    having max(polled_at) is not null
    on conflict (model) do update
    set synced_through = excluded.synced_through, recorded_at = now()
{%- endmacro %}
