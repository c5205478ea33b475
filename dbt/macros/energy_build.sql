{#-
    How the half-hourly energy is built incrementally.

    flows_staging.energy_build_state holds, per meter, the first read seen and how far its
    half-hours are built (built_through: every half-hour before it has a row). Each build
    (int_energy_windows) finds the profile-log rows landed since the last build (loaded_at past
    the watermark kept in history_watermarks, less a re-read margin for loads still committing)
    and gives each meter a window [starts_at, ends_at) to rebuild:
    - from its last read before its first new one (the read that bounds the gap the new reads
      close), so a late day also re-estimates the gap it ends, and on to the grid end;
    - a meter with nothing new gets missing half-hours up to the grid end (the newest
      half-hour the fleet reported), so a silent meter shows as rows, not absence.
    register_interval_hh deletes and rebuilds those windows, and records the state and the
    watermark in the same transaction (its post-hook), so a failed build changes nothing.
-#}

{% macro energy_state_relation() -%}
    {{ return(api.Relation.create(schema='flows_staging', identifier='energy_build_state')) }}
{%- endmacro %}


{#- Run at the start of every dbt invocation (dbt_project.yml on-run-start). -#}
{% macro create_energy_build_state() -%}
    create schema if not exists flows_staging;
    create table if not exists {{ energy_state_relation() }} (
        meter_id uuid primary key,
        first_read_at timestamptz not null,
        built_through timestamptz not null,
        recorded_at timestamptz not null default now()
    );
    comment on table {{ energy_state_relation() }} is
        'How far each meter''s half-hourly energy (flows.register_interval_hh) is built.'
{%- endmacro %}


{#-
    The earliest `column` of this build's windows as a literal, so that the queries on the
    half-hourly tables are bounded at plan time (partition pruning, the timestamp index) and
    their cost follows the window, not the history. At parse time, and with no window, a bound
    that selects nothing is not wanted either: 'infinity' would, so '-infinity' stands in.
-#}
{% macro energy_window_bound(column, as_uk_day_start=false) -%}
    {%- if not execute -%}
        {{ return("'-infinity'::timestamptz") }}
    {%- endif -%}
    {%- set expression = 'min(' ~ column ~ ')' -%}
    {%- if as_uk_day_start -%}
        {%- set expression = uk_day_start(uk_day(expression)) -%}
    {%- endif -%}
    {%- set found = run_query('select ' ~ expression ~ '::text from ' ~ ref('int_energy_windows')) -%}
    {%- set value = found.columns[0].values()[0] -%}
    {{ return("'-infinity'::timestamptz" if value is none else "'" ~ value ~ "'::timestamptz") }}
{%- endmacro %}


{#- Profile-log rows landed after this are new to the build, less a margin for loads still
    committing when the last build ran. -#}
{% macro energy_loaded_after(from_scratch) -%}
    {%- if from_scratch -%}
        '-infinity'::timestamptz
    {%- else -%}
        coalesce(
            (
                select synced_through
                from {{ history_watermarks_relation() }}
                where model = 'register_interval_hh'
            ),
            '-infinity'::timestamptz
        ) - make_interval(mins => {{ var('energy_reread_minutes') }})
    {%- endif -%}
{%- endmacro %}


{#- The UTC instant a UK day (a date expression) starts at. -#}
{% macro uk_day_start(date_expression) -%}
    (({{ date_expression }})::timestamp at time zone 'Europe/London')
{%- endmacro %}


{#- The half-hours in a UK day: 48, or 46 and 50 on the days the clocks change. -#}
{% macro uk_day_half_hours(date_expression) -%}
    (extract(epoch from
        {{ uk_day_start('(' ~ date_expression ~ ') + 1') }} - {{ uk_day_start(date_expression) }}
    ) / 1800)::int
{%- endmacro %}


{#- The half-hour a timestamp falls in (its start). -#}
{% macro floor_half_hour(timestamp) -%}
    to_timestamp(floor(extract(epoch from {{ timestamp }}) / 1800) * 1800)
{%- endmacro %}


{#- Pre-hook of register_interval_hh: delete the half-hours this build rebuilds. -#}
{% macro clear_energy_windows() -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as built
    using {{ ref('int_energy_windows') }} as windows
    where
        built.meter_id = windows.meter_id
        and built."timestamp" >= windows.starts_at
        and built."timestamp" >= {{ energy_window_bound('starts_at') }}
    {%- else -%}
    delete from {{ energy_state_relation() }}
    {%- endif -%}
{%- endmacro %}


{#- Post-hook of register_interval_hh: how far each meter is built, and the load watermark. -#}
{% macro record_energy_build() -%}
    insert into {{ energy_state_relation() }} (meter_id, first_read_at, built_through)
    select meter_id, first_read_at, ends_at
    from {{ ref('int_energy_windows') }}
    on conflict (meter_id) do update
    set
        first_read_at = excluded.first_read_at,
        built_through = excluded.built_through,
        recorded_at = now();
    insert into {{ history_watermarks_relation() }} (model, synced_through)
    select '{{ this.identifier }}', max(loaded_through)
    from {{ ref('int_energy_windows') }}
    having max(loaded_through) is not null
    on conflict (model) do update
    set synced_through = excluded.synced_through, recorded_at = now()
{%- endmacro %}
