select
    site as site_code,
    plot,
    service_head as service_head_name,
    loaded_at
from {{ source('flows_raw', 'property_service_heads') }}
