-- Which service head each meter hangs off. A serial the registry does not have keeps its row
-- with no meter_id, so that a link naming a wrong serial shows rather than vanishes.
select
    heads.service_head_id,
    links.service_head_name,
    registry.meter_id,
    links.serial
from {{ ref('stg_flows_raw__service_head_meters') }} as links
inner join {{ ref('stg_flows_raw__service_heads') }} as heads
    on links.service_head_name = heads.service_head_name
left join {{ ref('stg_flows_raw__meter_registry') }} as registry
    on links.serial = registry.serial
