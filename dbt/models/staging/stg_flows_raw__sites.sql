select
    id as site_id,
    code as site_code,
    name as site_name,
    esco as esco_code,
    loaded_at
from {{ source('flows_raw', 'sites') }}
