select
    id as circuit_id,
    name as circuit_name,
    type as circuit_type,
    site as site_code,
    loaded_at
from {{ source('flows_raw', 'circuits') }}
