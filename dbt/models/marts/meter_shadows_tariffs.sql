{{ config(materialized='view') }}

-- meter_shadows with the active and future tariff sets spread into columns. Activation times in
-- the tariff JSON are the meter's wall time: UK local time when the meter applies daylight
-- saving, GMT when it does not.
with

shadows as (

    select * from {{ ref('meter_shadows') }}

),

registry as (

    select id, daylight_savings_correction_enabled from {{ ref('meter_registry') }}

),

-- The requested change the meter is waiting for: not active yet and not replaced, the one
-- that activates first (of two at the same time, the later request, as the operator's last
-- word). A failed change counts: the meter lacks it until an operator acts.
pending as (

    select distinct on (meter_id)
        meter_id,
        request_id,
        status,
        requested_by,
        requested_at,
        activation_at,
        standing_charge,
        unit_rate_a,
        unit_rate_b,
        emergency_credit
    from {{ ref('tariff_changes') }}
    where status in ('requested', 'pushed', 'verified', 'failed')
    order by meter_id asc, activation_at asc, requested_at desc, request_id asc

)

select
    -- Every column of meter_shadows, those it gains later included.
    shadows.*,  -- noqa: AM04
    {{ tariff_columns('shadows.tariffs_active', 'active') }},
    {{ tariff_columns('shadows.tariffs_future', 'future') }},
    (shadows.tariffs_future ->> 'activation_datetime')::timestamp at time zone (
        case when registry.daylight_savings_correction_enabled then 'Europe/London' else 'UTC' end
    ) as future_activation_datetime,
    pending.request_id as pending_request_id,
    pending.status as pending_status,
    pending.requested_by as pending_requested_by,
    pending.requested_at as pending_requested_at,
    pending.activation_at as pending_activation_at,
    pending.standing_charge as pending_standing_charge,
    pending.unit_rate_a as pending_unit_rate_a,
    pending.unit_rate_b as pending_unit_rate_b,
    pending.emergency_credit as pending_emergency_credit
from shadows
inner join registry on shadows.id = registry.id
left join pending on shadows.id = pending.meter_id
