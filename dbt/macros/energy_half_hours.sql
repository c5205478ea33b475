{#-
    The half-hours of one shard of the meters of int_energy_windows (its `shard` column, 0 or
    1): the SQL of int_energy_half_hours_0 and _1, which dbt's two threads build at the same
    time, each on a core; register_interval_hh inserts both.

    kWh per register per half-hour, validated and estimated (VEE), over the windows of
    int_energy_windows. A read is a profile-log record: a register's cumulative Wh at that
    instant. Between two consecutive reads of a register lies a span of one or more half-hours;
    the rules (macros/energy_rules.sql) judge each span. One half-hour between good reads is
    `actual`; a longer gap up to var energy_max_estimated_gap_half_hours is `estimated`, its
    half-hours adding up exactly (to the Wh) to the difference of the reads, shaped like the
    register's own actual half-hours at those times of day over the last var
    energy_profile_days days, else evenly; a half-hour without both bounds, or in a longer gap,
    is `missing`; a span a rule doubts is `suspect`. Import and export are judged apart
    (quality / export_quality).
-#}
{% macro energy_half_hours(shard) -%}
{%- set reads_since = energy_window_bound('starts_at') %}
{%- set profile_days = var('energy_profile_days') %}
{#- sqlfluff renders a var as its name: lint with a number then. #}
{%- if profile_days is not number %}{% set profile_days = 7 %}{% endif %}
with

-- This shard's meters.
shard_windows as (

    select *
    from {{ ref('int_energy_windows') }}
    where shard = {{ shard }}

),

registers as (

    select
        registers.register_id,
        registers.meter_id,
        registers.element,
        registers.direction_reversed,
        registers.hardware,
        windows.starts_at,
        windows.ends_at
    from {{ ref('meter_registers') }} as registers
    inner join shard_windows as windows
        on registers.meter_id = windows.meter_id
    where registers.status = 'enabled'

),

-- Each meter's records of both logs: log 1's import and log 2's export, per element. Not
-- materialized: each of its two uses (bounded, off_grid) has its own filter pushed down to the
-- log scans, instead of millions of reads being spooled to disk once and read back twice.
reads as not materialized (
    {%- for log, direction in [(1, 'import'), (2, 'export')] %}

    select
        log.meter_id,
        {{ log }} as log,
        log.record_timestamp,
        log.is_reset,
        log.is_conflicting_duplicate,
        log.{{ direction }}_a_wh as a_wh,
        log.{{ direction }}_b_wh as b_wh
    from {{ ref('stg_flows_raw__profile_log_' ~ log) }} as log
    inner join shard_windows as windows
        on
        log.meter_id = windows.meter_id
        and log.record_timestamp >= windows.starts_at
        and log.record_timestamp <= windows.ends_at
    where log.record_timestamp >= {{ reads_since }}
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}

),

-- The reads on the half-hour grid, between two empty reads at the window's ends, so that the
-- spans cover the whole window. `bound_order` sorts the start bound first and the end last
-- where a real read has the same instant.
bounded as (

    select
        meter_id,
        log,
        record_timestamp as read_at,
        1 as bound_order,
        a_wh,
        b_wh,
        is_reset,
        is_conflicting_duplicate
    from reads
    where not {{ rule_off_grid('record_timestamp') }}

    union all

    select
        windows.meter_id,
        logs.log,
        bounds.read_at,
        bounds.bound_order,
        null::bigint as a_wh,
        null::bigint as b_wh,
        false as is_reset,
        false as is_conflicting_duplicate
    from shard_windows as windows
    cross join (values (1), (2)) as logs (log)
    cross join lateral (
        values (windows.starts_at, 0), (windows.ends_at, 2)
    ) as bounds (read_at, bound_order)

),

-- The spans of each meter's log: both elements of a meter (A and B) share its records, so the
-- reads are ordered once per meter, not once per register (half the rows to sort).
spans as (

    select
        meter_id,
        log,
        lag(read_at) over by_log as from_at,
        read_at as to_at,
        lag(a_wh) over by_log as from_a_wh,
        a_wh as to_a_wh,
        lag(b_wh) over by_log as from_b_wh,
        b_wh as to_b_wh,
        is_reset as to_is_reset,
        -- A read the meter sent twice, differently, leaves both half-hours around it in doubt.
        is_conflicting_duplicate or lag(is_conflicting_duplicate) over by_log as is_duplicate
    from bounded
    window by_log as (partition by meter_id, log order by read_at, bound_order)

),

-- Each register's spans: import from log 1 and export from log 2 (swapped on registers that
-- measure the other way round), of its element's register.
register_spans as (

    select
        registers.register_id,
        case
            when (spans.log = 1) <> registers.direction_reversed then 'import' else 'export'
        end as direction,
        spans.from_at,
        spans.to_at,
        case when registers.element = 'B' then spans.from_b_wh else spans.from_a_wh end as from_wh,
        case when registers.element = 'B' then spans.to_b_wh else spans.to_a_wh end as to_wh,
        spans.to_is_reset,
        spans.is_duplicate,
        registers.meter_id,
        registers.hardware,
        registers.starts_at,
        registers.ends_at
    from spans
    inner join registers on spans.meter_id = registers.meter_id
    where spans.to_at > spans.from_at

),

measured as (

    select
        *,
        -- Nearly every span is one half-hour: a cheap interval comparison for that.
        case
            when to_at - from_at = interval '30 minutes' then 1
            else (extract(epoch from to_at - from_at) / 1800)::int
        end as half_hours,
        to_wh - from_wh as delta_wh
    from register_spans

),

-- When the meter's clock was out by more than the threshold: from the poll before the one
-- that found it out to the poll after (when it may have been put right).
drifted as (

    select meter_id, tstzrange(previous_polled_at, next_polled_at) as period
    from (
        select
            snapshots.meter_id,
            snapshots.clock_time_diff_seconds,
            coalesce(
                lag(snapshots.polled_at) over by_meter, snapshots.polled_at
            ) as previous_polled_at,
            lead(snapshots.polled_at) over by_meter as next_polled_at
        from {{ ref('stg_flows_raw__meter_sync_snapshots') }} as snapshots
        inner join shard_windows as windows
            on snapshots.meter_id = windows.meter_id
        where
            snapshots.clock_time_diff_seconds is not null
            and snapshots.polled_at >= {{ reads_since }} - interval '2 days'
        window by_meter as (partition by snapshots.meter_id order by snapshots.polled_at)
    ) as polls
    where {{ rule_clock_drift('clock_time_diff_seconds') }}

),

-- Each drifted meter's periods as one multirange: a single hash join on the meter judges every
-- span (a subquery per span would run once for every span of the fleet).
drift_periods as (

    select meter_id, range_agg(period) as periods
    from drifted
    group by meter_id

),

-- Materialized: every rule is evaluated once per span here and kept as a narrow flag (inlined,
-- each use of a flag downstream would evaluate its rule again), and the one-half-hour spans and
-- the longer gaps below each read their own part of it.
judged as materialized (

    select
        measured.register_id,
        measured.direction,
        measured.from_at,
        measured.half_hours,
        measured.starts_at,
        measured.ends_at,
        {{ consumption_wh('delta_wh', 'half_hours', 'hardware') }} as consumption_wh,
        {{ rule_missing_read('from_wh', 'to_wh') }} as is_missing_read,
        {{ rule_gap_too_long('half_hours') }} as is_gap_too_long,
        {{ rule_register_reset('to_is_reset') }} as is_register_reset,
        coalesce({{ rule_negative_consumption('delta_wh', 'half_hours', 'hardware') }}, false)
            as is_negative_consumption,
        coalesce({{ rule_rollover('delta_wh', 'half_hours', 'hardware') }}, false) as is_rollover,
        {{ rule_over_supply_limit(
            consumption_wh('delta_wh', 'half_hours', 'hardware'), 'half_hours', 'hardware'
        ) }} as is_over_supply_limit,
        {{ rule_duplicate_timestamp('is_duplicate') }} as is_duplicate_timestamp,
        -- The range is built only for the spans of a drifted meter.
        coalesce(
            drift_periods.periods is not null
            and drift_periods.periods && tstzrange(measured.from_at, measured.to_at),
            false
        ) as is_clock_drift
    from measured
    left join drift_periods on measured.meter_id = drift_periods.meter_id

),

-- Inlined into each of its uses, so each reads only its own spans of judged.
classified as not materialized (

    select
        register_id,
        direction,
        from_at,
        half_hours,
        starts_at,
        ends_at,
        is_negative_consumption,
        is_register_reset,
        -- Most spans break no rule: the array of those broken is built only when one is.
        case
            when not (
                is_missing_read
                or is_gap_too_long
                or is_register_reset
                or is_negative_consumption
                or is_rollover
                or is_over_supply_limit
                or is_clock_drift
                or is_duplicate_timestamp
            ) then '{}'::text[]
            else array_remove(array[
                case when is_missing_read then 'missing_read' end,
                case when is_gap_too_long and not is_missing_read then 'gap_too_long' end,
                case when is_register_reset then 'register_reset' end,
                case when is_negative_consumption then 'negative_consumption' end,
                case when is_rollover then 'rollover' end,
                case when is_over_supply_limit then 'over_supply_limit' end,
                case when is_clock_drift then 'clock_drift' end,
                case when is_duplicate_timestamp then 'duplicate_timestamp' end
            ], null)
        end as rules,
        case
            when is_missing_read or is_gap_too_long then 'missing'
            when
                is_register_reset
                or is_negative_consumption
                or is_clock_drift
                or is_duplicate_timestamp
                or is_over_supply_limit
                then 'suspect'
            when half_hours = 1 then 'actual'
            else 'estimated'
        end as quality,
        consumption_wh
    from judged

),

-- One row per half-hour of each span. A suspect one-half-hour span keeps its consumption for
-- review, unless it is negative or follows a reset. Nearly all spans are one half-hour: they
-- stream on to the pairing; only the longer gaps are kept apart (materialized, they are few).
one_half_hours as (

    select
        register_id,
        direction,
        from_at as half_hour_at,
        quality,
        rules,
        case
            when quality = 'actual' then consumption_wh
            when
                quality = 'suspect'
                and not (is_negative_consumption or is_register_reset)
                then consumption_wh
        end as wh,
        starts_at,
        ends_at
    from classified
    where half_hours = 1

),

gap_half_hours as (

    select
        classified.register_id,
        classified.direction,
        classified.from_at,
        classified.from_at + make_interval(mins => 30 * steps.step) as half_hour_at,
        steps.step + 1 as position,
        classified.half_hours,
        classified.quality,
        classified.rules,
        classified.consumption_wh,
        classified.starts_at,
        classified.ends_at
    from classified
    cross join lateral generate_series(0, classified.half_hours - 1) as steps (step)
    where
        classified.half_hours > 1
        -- Only the half-hours in the window, and the whole of an estimated gap (its shares
        -- depend on every half-hour of it).
        and (
            classified.quality = 'estimated'
            or classified.from_at + make_interval(mins => 30 * steps.step) >= classified.starts_at
        )

),

-- The register's own actual half-hours at the same UK time of day on recent days: the shape
-- an estimated gap takes. Looked up per estimated half-hour on the table's (timestamp,
-- register_id) index, so the cost follows the gaps, not the history.
weighted as (

    select
        half_hours.*,
        coalesce(profile.kwh, 0) as weight
    from gap_half_hours as half_hours
    -- A lateral, so that each estimated half-hour looks up its own few rows by the index.
    left join lateral (  -- noqa: ST05
        {% if not energy_from_scratch() -%}
        select
            avg(
                case
                    when half_hours.direction = 'import' then built.import_kwh
                    else built.export_kwh
                end
            ) as kwh
        from {{ energy_built_half_hours() }} as built
        where
            built.register_id = half_hours.register_id
            -- Not the half-hours this build replaces.
            and built."timestamp" < half_hours.starts_at
            and built."timestamp" in (
                {%- for days_back in range(1, profile_days + 1) %}
                (
                    half_hours.half_hour_at at time zone 'Europe/London'
                    - interval '{{ days_back }} days'
                ) at time zone 'Europe/London'{{ ',' if not loop.last }}
                {%- endfor %}
            )
            and case
                when half_hours.direction = 'import' then built.quality
                else built.export_quality
            end = 'actual'
        {%- else -%}
        select null::numeric as kwh
        {%- endif %}
    ) as profile on true
    where half_hours.quality = 'estimated'

),

-- Shares of the gap's consumption: cumulative shares rounded to the Wh, then differenced, so
-- that the half-hours add up to the difference of the reads exactly.
estimated as (

    select
        register_id,
        direction,
        half_hour_at,
        quality,
        rules,
        cumulative_wh - coalesce(lag(cumulative_wh) over by_gap, 0) as wh,
        starts_at,
        ends_at
    from (
        select
            *,
            round(
                consumption_wh * case
                    when sum(weight) over whole_gap > 0
                        then sum(weight) over gap_so_far / sum(weight) over whole_gap
                    else position::numeric / half_hours
                end
            ) as cumulative_wh
        from weighted
        window
            whole_gap as (partition by register_id, direction, from_at),
            gap_so_far as (
                partition by register_id, direction, from_at order by half_hour_at
                rows between unbounded preceding and current row
            )
    ) as shares
    window by_gap as (partition by register_id, direction, from_at order by half_hour_at)

),

channels as (

    select register_id, direction, half_hour_at, quality, rules, wh, starts_at, ends_at
    from one_half_hours

    union all

    select
        register_id,
        direction,
        half_hour_at,
        quality,
        rules,
        null::numeric as wh,
        starts_at,
        ends_at
    from gap_half_hours
    where quality <> 'estimated'

    union all

    select register_id, direction, half_hour_at, quality, rules, wh, starts_at, ends_at
    from estimated

),

-- Reads off the half-hour grid are left out of the spans; the half-hour they fall in is
-- suspect (the meter recorded at a time it should not have), on both registers of the meter.
-- Materialized: few rows, looked up by both the import and the export half-hours.
off_grid as materialized (

    select distinct
        registers.register_id,
        case
            when (reads.log = 1) <> registers.direction_reversed then 'import' else 'export'
        end as direction,
        {{ floor_half_hour('reads.record_timestamp') }} as half_hour_at
    from reads
    inner join registers on reads.meter_id = registers.meter_id
    where {{ rule_off_grid('reads.record_timestamp') }}

),

-- Inlined into both sides of the pairing, each with its direction pushed down to the spans.
-- The off-grid half-hours are looked up in a hash of them (a subquery in an expression is
-- hashed once; nearly always empty): a join would sort or hash every half-hour of the build.
checked as not materialized (

    select
        register_id,
        direction,
        half_hour_at,
        wh,
        case
            when is_off_grid and quality in ('actual', 'estimated') then 'suspect'
            else quality
        end as quality,
        case
            when is_off_grid then array_append(rules, 'off_grid_timestamp')
            else rules
        end as rules
    from (
        select
            *,
            (register_id, direction, half_hour_at) in (
                select off_grid.register_id, off_grid.direction, off_grid.half_hour_at
                from off_grid
            ) as is_off_grid
        from channels
        where
            half_hour_at >= starts_at
            and half_hour_at < ends_at
    ) as flagged

),

imports as (

    select * from checked
    where direction = 'import'

),

exports as (

    select * from checked
    where direction = 'export'

),

-- Import and export of each half-hour side by side. Every half-hour of a register's window has
-- exactly one row of each direction (the spans of a log tile the window), so a full join pairs
-- them as grouping would, at half the cost; and a full join cannot be planned as a nested loop,
-- so no misjudged row count can turn the pairing into a loop over every pair of rows.
paired as (

    select
        coalesce(imports.register_id, exports.register_id) as register_id,
        coalesce(imports.half_hour_at, exports.half_hour_at) as half_hour_at,
        imports.wh as import_wh,
        exports.wh as export_wh,
        imports.quality,
        exports.quality as export_quality,
        imports.rules,
        exports.rules as export_rules
    from imports
    full join exports
        on
        imports.register_id = exports.register_id
        and imports.half_hour_at = exports.half_hour_at

)

select
    paired.register_id,
    registers.meter_id,
    registers.element,
    paired.half_hour_at as "timestamp",
    round(paired.import_wh / 1000.0, 3)::numeric(14, 3) as import_kwh,
    round(paired.export_wh / 1000.0, 3)::numeric(14, 3) as export_kwh,
    paired.quality,
    paired.export_quality,
    paired.rules,
    paired.export_rules
from paired
inner join registers on paired.register_id = registers.register_id
-- In the order of register_interval_hh's unique index, sorted here while the other shard is
-- computed: the rows are inserted in this order, so the index grows at its end, page by page,
-- instead of being written all over (at 20k meters the insert takes 5 s instead of 12).
order by paired.half_hour_at, paired.register_id
{%- endmacro %}


{#-
    The half-hours built before (register_interval_hh, read without a ref: it is built from
    these shards), whose actual half-hours give estimated gaps their shape. A unit test
    overrides it with rows of its own.
-#}
{% macro energy_built_half_hours() -%}
    {{ return(api.Relation.create(schema='flows', identifier='register_interval_hh')) }}
{%- endmacro %}
