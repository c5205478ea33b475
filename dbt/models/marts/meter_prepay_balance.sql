{{
    config(
        materialized='incremental',
        unique_key=['meter_id', 'timestamp'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

-- Balance history: a row only when a meter's balance or emergency credit differs from its
-- previous reading. Incremental runs read only snapshots newer than the history, compared
-- against each meter's last recorded value.
with

readings as (

    select
        meter_id,
        polled_at as "timestamp",
        balance,
        emergency_credit,
        false as recorded
    from {{ ref('stg_flows_raw__meter_sync_snapshots') }}
    where
        balance is not null
        {% if is_incremental() %}
            and polled_at > (
                select coalesce(max("timestamp"), '-infinity'::timestamptz) from {{ this }}
            )
        {% endif %}

),

{% if is_incremental() %}
last_recorded as (

    select distinct on (meter_id)
        meter_id,
        "timestamp",
        balance,
        emergency_credit,
        true as recorded
    from {{ this }}
    order by meter_id, "timestamp" desc

),

candidates as (

    select * from readings
    union all
    select * from last_recorded

),
{% else %}
candidates as (

    select * from readings

),
{% endif %}

compared as (

    select
        *,
        lag(balance) over by_meter as previous_balance,
        lag(emergency_credit) over by_meter as previous_emergency_credit,
        row_number() over by_meter as position
    from candidates
    window by_meter as (partition by meter_id order by "timestamp")

)

select
    meter_id,
    "timestamp",
    balance,
    emergency_credit
from compared
where
    not recorded
    and (
        position = 1
        or balance <> previous_balance
        or emergency_credit is distinct from previous_emergency_credit
    )
