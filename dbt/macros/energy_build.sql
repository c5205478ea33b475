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

    The UK days are kept up to date by difference, not by summing the days again: in the same
    transaction, register_interval_hh adds to flows_staging.energy_daily_changes each rebuilt
    day's sums (energy_daily_sums) of the half-hours it deleted, negated (pre-hook), and of those
    it inserted (post-hook); from scratch, it empties register_interval_daily and adds every
    day. So register_interval_daily plus the changes always equals the half-hours summed by day,
    and register_interval_daily takes the changes in (adds them, then deletes them, in one
    transaction), handing the meters' days it changed on to meter_consumption_daily
    (flows_staging.energy_meter_days_changed, taken in the same way). A window starting at
    23:30 rebuilds one half-hour of the day before: that day costs one half-hour's difference,
    not a second day summed again. Changes not taken in (a build that stopped after
    register_interval_hh) add up, and the next build takes them all.

    The half-hours themselves are computed in two shards of the meters (int_energy_windows.shard)
    by int_energy_half_hours_0 and _1, which dbt builds at the same time on its two threads;
    register_interval_hh inserts both, in its own transaction with the changes above.
-#}

{% macro energy_state_relation() -%}
    {{ return(api.Relation.create(schema='flows_staging', identifier='energy_build_state')) }}
{%- endmacro %}


{% macro energy_loads_built_relation() -%}
    {{ return(api.Relation.create(schema='flows_staging', identifier='energy_loads_built')) }}
{%- endmacro %}


{% macro energy_daily_changes_relation() -%}
    {{ return(api.Relation.create(schema='flows_staging', identifier='energy_daily_changes')) }}
{%- endmacro %}


{% macro energy_shard_days_relation() -%}
    {{ return(api.Relation.create(schema='flows_staging', identifier='energy_shard_days')) }}
{%- endmacro %}


{% macro energy_meter_days_changed_relation() -%}
    {{ return(api.Relation.create(schema='flows_staging', identifier='energy_meter_days_changed')) }}
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
        'The profile-log loads flows.register_interval_hh has built.';
    create table if not exists {{ energy_daily_changes_relation() }} (
        register_id uuid not null,
        meter_id uuid not null,
        element text,
        date date not null,
        import_kwh numeric not null,
        export_kwh numeric not null,
        half_hours_actual bigint not null,
        half_hours_estimated bigint not null,
        half_hours_suspect bigint not null
    );
    comment on table {{ energy_daily_changes_relation() }} is
        'Changes to flows.register_interval_daily not taken in yet: per register and UK day, '
        'the sums of the half-hours flows.register_interval_hh inserted less those it deleted.';
    create table if not exists {{ energy_shard_days_relation() }} (
        like {{ energy_daily_changes_relation() }},
        shard int not null
    );
    comment on table {{ energy_shard_days_relation() }} is
        'The day sums of the half-hours of each shard of the last energy build '
        '(flows_staging.int_energy_half_hours_0 and _1).';
    create table if not exists {{ energy_meter_days_changed_relation() }} (
        meter_id uuid not null,
        date date not null
    );
    comment on table {{ energy_meter_days_changed_relation() }} is
        'The meters'' UK days flows.register_interval_daily changed and '
        'flows.meter_consumption_daily has not summed again yet.'
{%- endmacro %}


{#-
    A UK day's sums over half-hourly rows (`rows`: a relation or alias with the columns of
    register_interval_hh), grouped by register and UK day, times `sign` (1 or -1): the one
    definition register_interval_daily's figures come from.
-#}
{% macro energy_daily_sums(rows, sign=1) -%}
    select
        {{ rows }}.register_id,
        {{ rows }}.meter_id,
        {{ rows }}.element,
        {{ uk_day(rows ~ '."timestamp"') }} as date,
        {{ sign }} * coalesce(
            sum({{ rows }}.import_kwh) filter (
                where {{ rows }}.quality in ('actual', 'estimated')
            ),
            0
        ) as import_kwh,
        {{ sign }} * coalesce(
            sum({{ rows }}.export_kwh) filter (
                where {{ rows }}.export_quality in ('actual', 'estimated')
            ),
            0
        ) as export_kwh,
        {{ sign }} * count(*) filter (where {{ rows }}.quality = 'actual') as half_hours_actual,
        {{ sign }} * count(*) filter (where {{ rows }}.quality = 'estimated')
            as half_hours_estimated,
        {{ sign }} * count(*) filter (where {{ rows }}.quality = 'suspect') as half_hours_suspect
{%- endmacro %}


{#- The grouping of energy_daily_sums. -#}
{% macro energy_daily_sums_group_by(rows) -%}
    group by
        {{ rows }}.register_id,
        {{ rows }}.meter_id,
        {{ rows }}.element,
        {{ uk_day(rows ~ '."timestamp"') }}
{%- endmacro %}


{#-
    The earliest `column` of this build's windows as a literal, so that the queries on the
    half-hourly tables are bounded at plan time (partition pruning, the timestamp index) and
    their cost follows the window, not the history. At parse time, and with no window, a bound
    that selects nothing is not wanted either: 'infinity' would, so '-infinity' stands in.
-#}
{% macro energy_window_bound(column) -%}
    {{ return(query_literal('min(' ~ column ~ ')', ref('int_energy_windows'), 'timestamptz')) }}
{%- endmacro %}


{#-
    `expression` over `relation` (one row) as a literal of `type`, for a bound known at plan
    time; '-infinity' at parse time or when it is null.
-#}
{% macro query_literal(expression, relation, type) -%}
    {%- set nothing = "'-infinity'::" ~ type -%}
    {%- if not execute -%}
        {{ return(nothing) }}
    {%- endif -%}
    {%- set found = run_query('select (' ~ expression ~ ')::text from ' ~ relation) -%}
    {%- set value = found.columns[0].values()[0] -%}
    {{ return(nothing if value is none else "'" ~ value ~ "'::" ~ type) }}
{%- endmacro %}


{#-
    Pre-hook of a model that takes in the changes of a staging table and deletes them in its
    post-hook: no other build adds changes between their reading and their deletion.
-#}
{% macro lock_changes(relation) -%}
    lock table {{ relation }} in share row exclusive mode
{%- endmacro %}


{#-
    The earliest date in a staging table of changes as a literal, so that the days looked up
    for them are bounded at plan time; '-infinity' at parse time or with no changes.
-#}
{% macro changes_since(relation) -%}
    {{ return(query_literal('min(date)', relation, 'date')) }}
{%- endmacro %}


{#- Whether this build starts from nothing: the first, or a full refresh. -#}
{% macro energy_from_scratch() -%}
    {%- set built = adapter.get_relation(
        database=target.database, schema='flows', identifier='register_interval_hh'
    ) -%}
    {{ return(built is none or flags.FULL_REFRESH) }}
{%- endmacro %}


{#-
    register_interval_hh built from scratch (its first build, or --full-refresh) empties the
    half-hours and the days and fills them from the two shards, which hold the windows of their
    own last build only, unless the models that feed them are rebuilt from scratch in the same
    run. Built from scratch alone, it would keep the last windows and drop the rest of the
    history, so it is refused before it runs.
-#}
{% macro refuse_energy_rebuild_alone() -%}
    {%- if execute and energy_from_scratch() -%}
        {%- set feeding = [
            'int_energy_loads', 'int_energy_windows',
            'int_energy_half_hours_0', 'int_energy_half_hours_1',
        ] -%}
        {%- set left_out = [] -%}
        {%- for name in feeding -%}
            {%- if 'model.' ~ project_name ~ '.' ~ name not in selected_resources -%}
                {%- do left_out.append(name) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if left_out -%}
            {{ exceptions.raise_compiler_error(
                this ~ ' is built from scratch here without ' ~ left_out | join(', ')
                ~ ', which would keep only the half-hours of the last build and lose the rest of'
                ~ ' the history; nothing was changed. Rebuild the energy models together: dbt run'
                ~ ' --full-refresh --select int_energy_loads+'
            ) }}
        {%- endif -%}
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


{#-
    The half-hour a timestamp falls in (its start): binned from an instant on the grid, in
    timestamp arithmetic (the numeric epoch extract it replaces cost seconds per million rows).
-#}
{% macro floor_half_hour(timestamp) -%}
    date_bin('30 minutes', {{ timestamp }}, timestamptz '2000-01-01 00:00+00')
{%- endmacro %}


{#-
    Pre-hook of register_interval_hh: delete the half-hours this build rebuilds, and take their
    sums off their UK days (energy_daily_changes).
-#}
{% macro clear_energy_windows() -%}
    {%- if is_incremental() -%}
    with deleted as (
        delete from {{ this }} as built
        using {{ ref('int_energy_windows') }} as windows
        where
            built.meter_id = windows.meter_id
            and built."timestamp" >= windows.starts_at
            and built."timestamp" >= {{ energy_window_bound('starts_at') }}
        returning built.*
    )
    insert into {{ energy_daily_changes_relation() }}
    {{ energy_daily_sums('deleted', -1) }}
    from deleted
    {{ energy_daily_sums_group_by('deleted') }}
    {%- else -%}
    delete from {{ energy_state_relation() }};
    delete from {{ energy_loads_built_relation() }};
    delete from {{ energy_daily_changes_relation() }}
    {%- endif -%}
{%- endmacro %}


{#-
    Post-hook of register_interval_hh: how far each meter is built, the loads it took in, and
    the sums of the half-hours it inserted (the shards', record_shard_days) added to their UK
    days. From scratch, the days built before (from the half-hours replaced) are emptied first.
-#}
{% macro record_energy_build() -%}
    {%- set daily = adapter.get_relation(
        database=target.database, schema='flows', identifier='register_interval_daily'
    ) -%}
    {%- if not is_incremental() and daily is not none %}
    delete from {{ daily }};
    {%- endif %}
    insert into {{ energy_daily_changes_relation() }} (
        register_id, meter_id, element, date, import_kwh, export_kwh,
        half_hours_actual, half_hours_estimated, half_hours_suspect
    )
    select
        register_id, meter_id, element, date, import_kwh, export_kwh,
        half_hours_actual, half_hours_estimated, half_hours_suspect
    from {{ energy_shard_days_relation() }};
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


{#-
    Post-hook of register_interval_daily: the meters' days it changed handed on to
    meter_consumption_daily, and the changes it took in deleted. From scratch, every day.
-#}
{% macro hand_on_meter_days_changed() -%}
    insert into {{ energy_meter_days_changed_relation() }} (meter_id, date)
    select distinct meter_id, date
    from {{ energy_daily_changes_relation() if is_incremental() else this }};
    delete from {{ energy_daily_changes_relation() }}
{%- endmacro %}


{#-
    Post-hook of int_energy_half_hours_0 and _1: the shard's day sums, summed while the other
    shard is computed, for register_interval_hh to add to the days' changes.
-#}
{% macro record_shard_days(shard) -%}
    delete from {{ energy_shard_days_relation() }} where shard = {{ shard }};
    insert into {{ energy_shard_days_relation() }}
    {{ energy_daily_sums('built') }},
        {{ shard }} as shard
    from {{ this }} as built
    {{ energy_daily_sums_group_by('built') }}
{%- endmacro %}


{#-
    Pre-hook of the energy tables built incrementally: ANALYZE the table when it has no
    statistics yet. A table just built from scratch (the first build, a full refresh) holds all
    its rows with none until autovacuum comes round, and the next build's plans guess without
    them: the delete of register_interval_hh's windows read every half-hour of the history
    instead of the window's few on the index. Once analyzed, statistics stay (a day's rows
    past the histogram's end are found by the planner on the index), so this costs one ANALYZE.
-#}
{% macro analyze_if_no_statistics() -%}
    {%- if execute and is_incremental() -%}
        {%- set unanalyzed = run_query(
            "select not exists (select from pg_statistic where starelid = '"
            ~ this.include(database=false) ~ "'::regclass)"
        ).columns[0].values()[0] -%}
        {%- if unanalyzed %}
    analyze {{ this }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
