{{
    config(
        materialized='incremental',
        unique_key=['meter_id', 'day'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[{'columns': ['day']}],
    )
}}

-- Each meter's balance per UK calendar day (Europe/London: days of 23, 24 or 25 hours).
-- A balance read at one time is taken to hold until the meter's next reading, so the
-- time-weighted average covers the day from midnight (carrying the previous day's last
-- balance in) up to the day's end or the meter's latest reading. Incremental runs rebuild
-- the last day summarised and everything after it; the day before that too, for syncs
-- that committed late.
with

window_start as (

    {% if is_incremental() %}
    select
        coalesce(
            (max(day) - 1)::timestamp at time zone 'Europe/London', '-infinity'::timestamptz
        ) as starts_at
    from {{ this }}
    {% else %}
    select '-infinity'::timestamptz as starts_at
    {% endif %}

),

readings as (

    select
        meter_id,
        polled_at as read_at,
        balance,
        true as is_reading
    from {{ ref('stg_flows_raw__meter_sync_snapshots') }}
    where
        balance is not null
        and polled_at >= (select window_start.starts_at from window_start)

),

carried_in as (

    -- The balance each meter had when the window starts: its last change before then.
    select
        meters.meter_id,
        previous."timestamp" as read_at,
        previous.balance,
        false as is_reading
    from (select distinct meter_id from readings) as meters
    cross join lateral (
        select history."timestamp", history.balance
        from {{ ref('meter_prepay_balance') }} as history
        where
            history.meter_id = meters.meter_id
            and history."timestamp" < (select window_start.starts_at from window_start)
        order by history."timestamp" desc
        limit 1
    ) as previous

),

held as (

    select
        *,
        coalesce(lead(read_at) over by_meter, read_at) as held_until
    from (
        select * from readings
        union all
        select * from carried_in
    ) as balances
    window by_meter as (partition by meter_id order by read_at)

),

held_per_day as (

    -- Every UK day a held balance overlaps, and for how many seconds.
    select
        held.meter_id,
        held.read_at,
        held.balance,
        held.is_reading and {{ uk_day('held.read_at') }} = days.day as read_that_day,
        days.day,
        days.starts_at as day_starts_at,
        days.ends_at as day_ends_at,
        greatest(
            extract(epoch from (
                least(held.held_until, days.ends_at) - greatest(held.read_at, days.starts_at)
            )),
            0
        ) as seconds_held
    from held
    cross join lateral (
        select
            day::date as day,
            day at time zone 'Europe/London' as starts_at,
            (day + interval '1 day') at time zone 'Europe/London' as ends_at
        from generate_series(
            {{ uk_day('held.read_at') }}::timestamp,
            {{ uk_day('held.held_until') }}::timestamp,
            interval '1 day'
        ) as day
    ) as days

)

select
    meter_id,
    day,
    (extract(epoch from max(day_ends_at) - max(day_starts_at)) / 3600)::integer as hours_in_day,
    min(balance) filter (where read_that_day) as min_balance,
    max(balance) filter (where read_that_day) as max_balance,
    round(avg(balance) filter (where read_that_day), 5) as avg_balance,
    round(sum(balance * seconds_held) / nullif(sum(seconds_held), 0), 5)
        as time_weighted_avg_balance,
    (array_agg(balance order by read_at) filter (where read_that_day))[1] as first_balance,
    (array_agg(balance order by read_at desc) filter (where read_that_day))[1] as last_balance,
    (count(*) filter (where read_that_day))::integer as readings_count,
    round(sum(seconds_held) / 3600, 4) as hours_covered
from held_per_day
where day >= (select {{ uk_day('window_start.starts_at') }} from window_start)
group by meter_id, day
having count(*) filter (where read_that_day) > 0
