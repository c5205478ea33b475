{#-
    How the half-hourly energy is built incrementally.

    flows_staging.energy_build_state holds, per meter, the first read seen and how far its
    half-hours are built (built_through: every half-hour before it has a row), and
    flows_staging.energy_loads_built the profile-log loads (flows_raw.profile_log_loads, one
    per day of a log landed, committed with its rows) already built. Each build takes the loads
    not built yet (int_energy_loads), whatever order they committed in, and gives each meter a
    window [starts_at, ends_at) to rebuild (int_energy_windows):
    - from its last read before its first new one (the read that bounds the gap the new reads
      close), so a late day also re-estimates the gap it ends, and on to the grid end;
    - a meter with nothing new gets missing half-hours up to the grid end (the newest
      half-hour the fleet reported), so a silent meter shows as rows, not absence.
    register_interval_hh deletes and rebuilds those windows, and records the state and the
    loads built in the same transaction (its post-hook), so a failed build changes nothing.
-#}

{% macro energy_state_relation() -%}
    {{ return(api.Relation.create(schema='flows_staging', identifier='energy_build_state')) }}
{%- endmacro %}


{% macro energy_loads_built_relation() -%}
    {{ return(api.Relation.create(schema='flows_staging', identifier='energy_loads_built')) }}
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
        'How far each meter''s half-hourly energy (flows.register_interval_hh) is built.';
    create table if not exists {{ energy_loads_built_relation() }} (
        load_id uuid primary key,
        built_at timestamptz not null default now()
    );
    comment on table {{ energy_loads_built_relation() }} is
        'The profile-log loads flows.register_interval_hh has built.'
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


{#- Whether this build starts from nothing: the first, or a full refresh. -#}
{% macro energy_from_scratch() -%}
    {%- set built = adapter.get_relation(
        database=target.database, schema='flows', identifier='register_interval_hh'
    ) -%}
    {{ return(built is none or flags.FULL_REFRESH) }}
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


{#-
    The half-hour a timestamp falls in (its start): binned from an instant on the grid, in
    timestamp arithmetic (the numeric epoch extract it replaces cost seconds per million rows).
-#}
{% macro floor_half_hour(timestamp) -%}
    date_bin('30 minutes', {{ timestamp }}, timestamptz '2000-01-01 00:00+00')
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
    delete from {{ energy_state_relation() }};
    delete from {{ energy_loads_built_relation() }}
    {%- endif -%}
{%- endmacro %}


{#- Post-hook of register_interval_hh: how far each meter is built, and the loads it took in. -#}
{% macro record_energy_build() -%}
    insert into {{ energy_state_relation() }} (meter_id, first_read_at, built_through)
    select meter_id, first_read_at, ends_at
    from {{ ref('int_energy_windows') }}
    on conflict (meter_id) do update
    set
        first_read_at = excluded.first_read_at,
        built_through = excluded.built_through,
        recorded_at = now();
    insert into {{ energy_loads_built_relation() }} (load_id)
    select load_id
    from {{ ref('int_energy_loads') }}
    on conflict (load_id) do nothing
{%- endmacro %}
