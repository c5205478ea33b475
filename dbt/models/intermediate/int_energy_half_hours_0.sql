-- The half-hours of the meters of shard 0 of int_energy_windows (macros/energy_half_hours.sql),
-- built at the same time as the other shard's; register_interval_hh inserts both. Unlogged:
-- a working table, rebuilt by every energy build.
{{ config(
    materialized='table',
    unlogged=true,
    pre_hook=["set local work_mem = '256MB'"],
    post_hook=["{{ record_shard_days(0) }}"],
) }}
{{ energy_half_hours(0) }}
