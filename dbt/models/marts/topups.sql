-- One row per queued top-up token and how its sending stands. An `already_used` answer counts
-- as applied: either way the token's credit is on the meter.
with

tokens as (

    select * from {{ ref('stg_flows_raw__topup_tokens') }}

),

topup_log as (

    select * from {{ ref('stg_flows_raw__topup_log') }}

),

attempts as (

    select
        token_id,
        count(*)::integer as attempts,
        min(started_at) as first_attempt_at,
        min(finished_at) filter (where outcome in ('applied', 'already_used')) as applied_at,
        bool_or(outcome in ('applied', 'already_used')) as applied,
        bool_or(outcome = 'rejected') as rejected,
        bool_or(flagged) as flagged
    from topup_log
    group by token_id

),

latest_attempt as (

    select distinct on (token_id)
        token_id,
        outcome,
        reason,
        next_attempt_after
    from topup_log
    order by token_id asc, attempt desc

)

select
    tokens.token_id,
    tokens.meter_id,
    tokens.serial,
    tokens.token_last4,
    tokens.requested_by,
    tokens.requested_at,
    coalesce(attempts.attempts, 0) as attempts,
    attempts.first_attempt_at,
    attempts.applied_at,
    latest_attempt.outcome as last_outcome,
    latest_attempt.reason as last_reason,
    latest_attempt.next_attempt_after,
    coalesce(attempts.flagged, false) as flagged,
    tokens.cancelled_at,
    tokens.cancel_reason,
    case
        when attempts.applied then 'applied'
        when attempts.rejected then 'rejected'
        when attempts.flagged then 'failed'
        when tokens.cancelled_at is not null then 'cancelled'
        when attempts.attempts > 0 then 'sending'
        else 'queued'
    end as status
from tokens
left join attempts on tokens.token_id = attempts.token_id
left join latest_attempt on tokens.token_id = latest_attempt.token_id
