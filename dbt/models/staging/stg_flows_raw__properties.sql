select
    id as property_id,
    site as site_code,
    plot,
    loaded_at
from {{ source('flows_raw', 'properties') }}
