select
    heads.service_head_id as id,
    heads.service_head_name as name,
    feeders.feeder_id,
    heads.feeder_name,
    heads.phase::int as phase,
    heads.fuse_rating::int as fuse_rating,
    heads.ownership as type
from {{ ref('stg_flows_raw__service_heads') }} as heads
inner join {{ ref('stg_flows_raw__feeders') }} as feeders
    on heads.feeder_name = feeders.feeder_name
