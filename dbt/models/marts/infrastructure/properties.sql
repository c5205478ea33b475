select
    properties.property_id as id,
    properties.plot,
    sites.site_id,
    properties.site_code
from {{ ref('stg_flows_raw__properties') }} as properties
inner join {{ ref('stg_flows_raw__sites') }} as sites on properties.site_code = sites.site_code
