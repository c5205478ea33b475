select
    circuits.circuit_id as id,
    circuits.circuit_name as name,
    circuits.circuit_type as type,
    sites.site_id,
    circuits.site_code
from {{ ref('stg_flows_raw__circuits') }} as circuits
inner join {{ ref('stg_flows_raw__sites') }} as sites on circuits.site_code = sites.site_code
