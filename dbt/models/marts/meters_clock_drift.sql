{{ config(materialized='view') }}

-- Active meters whose clock is at least the threshold away from server time, either way.
-- The sign is kept: positive means the meter's clock is ahead.
select
    registry.id,
    registry.serial,
    registry.name,
    registry.esco,
    shadows.clock_time_diff_seconds,
    shadows.balance_updated_at as measured_at
from {{ ref('meter_registry') }} as registry
inner join {{ ref('meter_shadows') }} as shadows on registry.id = shadows.id
where
    registry.polled
    and abs(shadows.clock_time_diff_seconds) >= {{ var('clock_drift_threshold_seconds') }}
