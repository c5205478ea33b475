select
    feeders.feeder_id as id,
    feeders.feeder_name as name,
    escos.esco_id,
    feeders.esco_code,
    feeders.rating_kw::numeric(10, 2) as rating_kw
from {{ ref('stg_flows_raw__feeders') }} as feeders
inner join {{ ref('stg_flows_raw__escos') }} as escos on feeders.esco_code = escos.esco_code
