select
    service_head as service_head_name,
    serial,
    loaded_at
from {{ source('flows_raw', 'service_head_meters') }}
