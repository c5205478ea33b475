select
    meter_id as id,
    serial,
    name,
    ip_address,
    port,
    hardware,
    mode,
    esco_id as esco,
    single_meter_app,
    daylight_savings_correction_enabled,
    prepay_enabled,
    loaded_at as registry_loaded_at
from {{ ref('stg_flows_raw__meter_registry') }}
