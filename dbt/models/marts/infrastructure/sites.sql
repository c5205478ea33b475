select
    sites.site_id as id,
    sites.site_code as code,
    sites.site_name as name,
    escos.esco_id,
    sites.esco_code
from {{ ref('stg_flows_raw__sites') }} as sites
inner join {{ ref('stg_flows_raw__escos') }} as escos on sites.esco_code = escos.esco_code
