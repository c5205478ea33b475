{{ config(materialized='view') }}

-- Prepayment meters in service whose latest balance is under the threshold (GBP).
select
    registry.id,
    registry.serial,
    registry.name,
    registry.esco,
    shadows.balance,
    shadows.emergency_credit,
    shadows.balance_updated_at
from {{ ref('meter_registry') }} as registry
inner join {{ ref('meter_shadows') }} as shadows on registry.id = shadows.id
where
    registry.polled
    and registry.prepay_enabled
    and shadows.balance < {{ var('low_balance_threshold_gbp') }}
