-- The profile-log loads this energy build takes in: those not built yet, or every one when it
-- builds from scratch (macros/energy_build.sql). The ledger is written with the profile logs'
-- rows, so this model follows them (and the job that lands them) in the asset graph:
-- depends_on: {{ ref('stg_flows_raw__profile_log_1') }}
-- depends_on: {{ ref('stg_flows_raw__profile_log_2') }}
-- Analyzed once built: the energy model's plan depends on knowing how many meters it holds.
{{ config(post_hook='analyze {{ this }}') }}
with

built as (

    select load_id
    from {{ energy_loads_built_relation() }}
    {% if energy_from_scratch() -%}
    where false
    {%- endif %}

)

select
    loads.load_id,
    loads.log,
    loads.window_start,
    loads.window_end,
    loads.meter_ids,
    loads.first_record_at,
    loads.last_record_at
from {{ source('flows_raw', 'profile_log_loads') }} as loads
where not exists (
    select 1 as found
    from built
    where built.load_id = loads.load_id
)
