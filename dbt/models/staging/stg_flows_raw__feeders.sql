select
    id as feeder_id,
    name as feeder_name,
    esco as esco_code,
    rating_kw,
    loaded_at
from {{ source('flows_raw', 'feeders') }}
