{{ config(materialized='view') }}
-- Cumulative export reads per register (kWh), from the profile logs and the syncs.
{{ register_reads('export') }}
