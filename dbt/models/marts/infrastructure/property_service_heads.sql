select
    properties.property_id,
    links.site_code,
    links.plot,
    heads.service_head_id,
    links.service_head_name
from {{ ref('stg_flows_raw__property_service_heads') }} as links
inner join {{ ref('stg_flows_raw__properties') }} as properties
    on links.site_code = properties.site_code and links.plot = properties.plot
inner join {{ ref('stg_flows_raw__service_heads') }} as heads
    on links.service_head_name = heads.service_head_name
