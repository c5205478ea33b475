-- A plain select, like every staging view here, so PostgreSQL can flatten it into the marts'
-- queries (see stg_flows_raw__meter_sync_snapshots.sql).
select
    -- ids
    request_id,
    target_kind,
    meter_id,
    serial,
    esco as esco_id,
    target_name,

    -- tariff
    tariff,
    {{ tariff_columns('tariff', 'tariff') }},

    -- timestamps
    -- The operator's UK wall-clock time, as typed; activation_at is the same instant in UTC.
    (tariff ->> 'activation_datetime')::timestamp as activation_local,
    activation_at,
    requested_by,
    requested_at
from {{ source('flows_raw', 'tariff_change_requests') }}
