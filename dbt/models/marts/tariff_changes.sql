-- One row per meter a tariff change request covers, and how far its push has come: requested,
-- pushed (written), verified (read back equal), active (the meter reports it as its active
-- tariff after activation), or stopped: failed (the write path gave up), superseded, or
-- cancelled (the meter left the registry or was deleted there).
with

covered as (

    select request_id, meter_id, serial, rates_applied, unit_rate_b, cancelled_at, cancel_reason
    from {{ ref('stg_flows_raw__tariff_change_request_meters') }}

),

requests as (

    select * from {{ ref('stg_flows_raw__tariff_change_requests') }}

),

registry as (

    select id, esco from {{ ref('meter_registry') }}

),

push_log as (

    select * from {{ ref('stg_flows_raw__tariff_push_log') }}

),

attempts as (

    select
        request_id,
        meter_id,
        count(*)::integer as attempts,
        min(started_at) as first_attempt_at,
        min(written_at) as pushed_at,
        min(finished_at) filter (where outcome = 'verified') as verified_at,
        bool_or(flagged) as flagged,
        bool_or(outcome = 'superseded') as superseded
    from push_log
    group by request_id, meter_id

),

latest_attempt as (

    select distinct on (request_id, meter_id)
        request_id,
        meter_id,
        outcome,
        reason,
        next_attempt_after
    from push_log
    order by request_id asc, meter_id asc, attempt desc

),

-- What the meter holds comes from the last write, which a later attempt that wrote nothing
-- (a failed connection) does not undo.
latest_write as (

    select distinct on (request_id, meter_id)
        request_id,
        meter_id,
        dst_enabled,
        meter_activation
    from push_log
    where written_at is not null
    order by request_id asc, meter_id asc, attempt desc

),

changes as (

    select
        covered.request_id,
        covered.meter_id,
        covered.serial,
        -- The ESCO a request named, else the meter's own.
        coalesce(requests.esco_id, registry.esco) as esco,
        requests.target_kind,
        requests.target_name,
        requests.tariff_standing_charge as standing_charge,
        requests.tariff_unit_rate_a as unit_rate_a,
        -- The rates this meter gets: an ESCO's night rate goes to its twin-element meters only.
        -- Rows stored before that was kept per meter give every meter the request's rates.
        case
            when covered.rates_applied is not null then covered.unit_rate_b
            else requests.tariff_unit_rate_b
        end as unit_rate_b,
        coalesce(
            covered.rates_applied,
            case when requests.tariff_unit_rate_b is null then 'single' else 'day_night' end
        ) as rates_applied,
        requests.tariff_ecredit_availability as ecredit_availability,
        requests.tariff_debt_recovery_rate as debt_recovery_rate,
        requests.tariff_emergency_credit as emergency_credit,
        requests.activation_local,
        requests.activation_at,
        requests.requested_by,
        requests.requested_at,
        coalesce(attempts.attempts, 0) as attempts,
        attempts.first_attempt_at,
        attempts.pushed_at,
        attempts.verified_at,
        coalesce(attempts.superseded, false) as superseded,
        latest_attempt.outcome as last_outcome,
        latest_attempt.reason as last_reason,
        latest_attempt.next_attempt_after,
        coalesce(attempts.flagged, false) as flagged,
        latest_write.dst_enabled,
        latest_write.meter_activation,
        covered.cancelled_at,
        covered.cancel_reason
    from covered
    inner join requests on covered.request_id = requests.request_id
    left join registry on covered.meter_id = registry.id
    left join attempts
        on covered.request_id = attempts.request_id and covered.meter_id = attempts.meter_id
    left join latest_attempt
        on covered.request_id = latest_attempt.request_id
        and covered.meter_id = latest_attempt.meter_id
    left join latest_write
        on covered.request_id = latest_write.request_id
        and covered.meter_id = latest_write.meter_id

),

-- Active: the first good read, at or after the activation and after the verification, whose
-- active tariff has the requested prices. Element B counts only where the meter gets a night
-- rate (a single-rate meter still reports some element B price). The lateral names the staging view
-- itself so that each change reads its meter's snapshots from the (meter_id, polled_at) index.
activations as (

    select
        changes.*,
        activation.polled_at as activated_at
    from changes
    left join lateral (
        select snapshots.polled_at
        from {{ ref('stg_flows_raw__meter_sync_snapshots') }} as snapshots
        where
            snapshots.meter_id = changes.meter_id
            and snapshots.outcome = 'ok'
            and snapshots.polled_at >= changes.activation_at
            and snapshots.polled_at > changes.verified_at
            and (snapshots.tariffs_active ->> 'standing_charge')::numeric = changes.standing_charge
            and (snapshots.tariffs_active ->> 'unit_rate_element_a')::numeric = changes.unit_rate_a
            and (
                changes.unit_rate_b is null
                or (snapshots.tariffs_active ->> 'unit_rate_element_b')::numeric
                = changes.unit_rate_b
            )
        order by snapshots.polled_at
        limit 1
    ) as activation on true

)

select
    -- Stable across rebuilds: derived from the request and the meter.
    md5(request_id::text || '/' || meter_id::text)::uuid as change_id,
    request_id,
    meter_id,
    serial,
    esco,
    target_kind,
    target_name,
    standing_charge,
    unit_rate_a,
    unit_rate_b,
    rates_applied,
    ecredit_availability,
    debt_recovery_rate,
    emergency_credit,
    activation_local,
    activation_at,
    requested_by,
    requested_at,
    attempts,
    first_attempt_at,
    pushed_at,
    verified_at,
    activated_at,
    last_outcome,
    last_reason,
    next_attempt_after,
    flagged,
    dst_enabled,
    meter_activation,
    cancelled_at,
    cancel_reason,
    case
        -- The write path cancels only changes it would still work on, so this ends them.
        when cancelled_at is not null then 'cancelled'
        when superseded then 'superseded'
        when activated_at is not null then 'active'
        when verified_at is not null then 'verified'
        when flagged then 'failed'
        when pushed_at is not null then 'pushed'
        else 'requested'
    end as status
from activations
