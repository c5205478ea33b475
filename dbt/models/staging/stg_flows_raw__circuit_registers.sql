select
    circuit as circuit_name,
    serial,
    element,
    start_time,
    end_time,
    notes,
    loaded_at
from {{ source('flows_raw', 'circuit_registers') }}
