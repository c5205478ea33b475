-- kWh per register per half-hour, validated and estimated (VEE). Built incrementally over the
-- windows of int_energy_windows: the pre-hook deletes them, this inserts them again, the
-- post-hook records how far each meter is built (macros/energy_build.sql).
--
-- The half-hours are computed in two shards of the meters at the same time, each on a core
-- (int_energy_half_hours_0 and _1; the validation and estimation: macros/energy_half_hours.sql).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    indexes=[
        {'columns': ['timestamp', 'register_id'], 'unique': true},
    ],
    pre_hook=[
        "{{ analyze_if_no_statistics() }}",
        "{{ clear_energy_windows() }}",
    ],
    post_hook=["{{ record_energy_build() }}"],
) }}
{{ refuse_energy_rebuild_alone() }}
with

-- Each shard sorted in the order of the unique index: dbt appends them from its temporary table
-- in this order (two passes along the index's end instead of a sort of the whole day here).
half_hours as (

    select * from {{ ref('int_energy_half_hours_0') }}
    union all
    select * from {{ ref('int_energy_half_hours_1') }}

)

select
    register_id,
    meter_id,
    element,
    "timestamp",
    import_kwh,
    export_kwh,
    quality,
    export_quality,
    rules,
    export_rules
from half_hours
