-- The ESCOs of the infrastructure files, with how many meters of the registry each has.
select
    escos.esco_id as id,
    escos.esco_code as code,
    escos.esco_name as name,
    escos.region,
    count(registry.meter_id)::int as meters
from {{ ref('stg_flows_raw__escos') }} as escos
left join {{ ref('stg_flows_raw__meter_registry') }} as registry
    on
    escos.esco_id = registry.esco_id
    and registry.installation_status <> 'deleted'
group by escos.esco_id, escos.esco_code, escos.esco_name, escos.region
