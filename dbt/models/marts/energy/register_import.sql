{{ config(materialized='view') }}
-- Cumulative import reads per register (kWh), from the profile logs and the syncs.
{{ register_reads('import') }}
