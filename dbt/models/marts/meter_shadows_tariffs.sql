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

)

select
    shadows.*,
    {{ tariff_columns('shadows.tariffs_active', 'active') }},
    {{ tariff_columns('shadows.tariffs_future', 'future') }},
    (shadows.tariffs_future ->> 'activation_datetime')::timestamp at time zone (
        case when registry.daylight_savings_correction_enabled then 'Europe/London' else 'UTC' end
    ) as future_activation_datetime
from shadows
inner join registry on shadows.id = registry.id
