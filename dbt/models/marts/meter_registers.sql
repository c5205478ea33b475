-- Each meter's registers: one SINGLE register on single-rate meters, A (day) and B (night) on
-- twin-element meters. The meter's model is the one it last reported, else the registry's;
-- when the meter reports a different model than the registry names (it was exchanged), the
-- registry model's registers it no longer has are `replaced`.
with

registry as (

    select meter_id, hardware, direction_reversed
    from {{ ref('stg_flows_raw__meter_registry') }}

),

meter_models as (

    select
        registry.meter_id,
        registry.direction_reversed,
        registry.hardware as registry_hardware,
        coalesce(reported.hardware, registry.hardware) as hardware
    from registry
    left join lateral (
        select snapshots.hardware
        from {{ ref('stg_flows_raw__meter_sync_snapshots') }} as snapshots
        where snapshots.meter_id = registry.meter_id and snapshots.hardware is not null
        order by snapshots.polled_at desc
        limit 1
    ) as reported on true

),

registers as (

    select meter_id, element, 'enabled' as status, hardware, direction_reversed
    from meter_models
    cross join lateral unnest({{ register_elements('hardware') }}) as element

    union all

    select meter_id, element, 'replaced' as status, registry_hardware, direction_reversed
    from meter_models
    cross join lateral unnest({{ register_elements('registry_hardware') }}) as element
    where element <> all({{ register_elements('hardware') }})

)

select
    -- Stable across rebuilds: derived from the meter and the element.
    md5(meter_id::text || '/' || element)::uuid as register_id,
    meter_id,
    element,
    status,
    direction_reversed,
    hardware
from registers
