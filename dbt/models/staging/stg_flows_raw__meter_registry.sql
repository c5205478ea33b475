-- A plain select, not the usual `with source as (...), renamed as (...)`: PostgreSQL
-- does not flatten that shape of view, so marts querying it for one meter's latest
-- rows would lose the (meter_id, polled_at) index and scan every row.
select
    -- ids
    id as meter_id,
    esco as esco_id,
    serial,

    -- attributes
    name,
    ip_address,
    port,
    hardware,
    mode,
    single_meter_app,
    daylight_savings_correction_enabled,
    prepay_enabled,
    coalesce(direction_reversed, false) as direction_reversed,
    -- Rows loaded before the column existed were all in service.
    coalesce(installation_status, 'enabled') as installation_status,
    not_polled_reason,

    -- lineage
    source_file,
    source_row,
    loaded_at
from {{ source('flows_raw', 'meter_registry') }}
