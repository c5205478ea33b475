select
    id as esco_id,
    code as esco_code,
    name as esco_name,
    region,
    loaded_at
from {{ source('flows_raw', 'escos') }}
