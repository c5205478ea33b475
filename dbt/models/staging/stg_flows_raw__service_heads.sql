select
    id as service_head_id,
    name as service_head_name,
    feeder as feeder_name,
    phase,
    fuse_rating,
    type as ownership,
    loaded_at
from {{ source('flows_raw', 'service_heads') }}
