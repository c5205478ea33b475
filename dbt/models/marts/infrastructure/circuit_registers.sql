-- Which register each circuit takes its energy from, over [start_time, end_time). A register
-- the registry or the meter's model does not have (a wrong serial or element) keeps its row
-- with no register_id.
select
    circuits.circuit_id,
    links.circuit_name,
    circuits.circuit_type,
    registers.register_id,
    registry.meter_id,
    links.serial,
    links.element,
    links.start_time,
    links.end_time,
    links.notes
from {{ ref('stg_flows_raw__circuit_registers') }} as links
inner join {{ ref('stg_flows_raw__circuits') }} as circuits
    on links.circuit_name = circuits.circuit_name
left join {{ ref('stg_flows_raw__meter_registry') }} as registry
    on links.serial = registry.serial
left join {{ ref('meter_registers') }} as registers
    on
    registry.meter_id = registers.meter_id
    and links.element = registers.element
