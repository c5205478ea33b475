-- A plain select, not the usual `with source as (...), renamed as (...)`: PostgreSQL
-- does not flatten that shape of view, so marts querying it for one meter's latest
-- rows would lose the (meter_id, polled_at) index and scan every row.
--
-- Only syncs the raw checks let through: a sync awaiting the verdict of an
-- error-severity suite (raw_snapshots_structure), or one that failed it, is left out
-- until it is judged and passes. Syncs without verdicts (landed before they were kept,
-- or by hand) are read. See dagster_project/warehouse/sync_verdicts.py.
--
-- The verdicts table is the sync's bookkeeping (written with the snapshots and by their
-- checks, created with them by ensure_raw_tables), not a dbt source: as one, Dagster
-- would show it as an asset of its own that nothing materializes.
{%- set snapshots = source('flows_raw', 'meter_sync_snapshots') %}
{%- set verdicts = api.Relation.create(
    database=snapshots.database, schema=snapshots.schema, identifier='meter_sync_verdicts'
) %}
select
    -- ids
    sync_id,
    meter_id,
    serial,

    -- outcome
    outcome,
    error_class,
    error_message,
    object_errors,
    values_read,

    -- readings
    balance,
    emergency_credit,
    clock_time_diff_seconds,
    csq,
    csq_operator,
    voltage,
    import_a,
    export_a,
    import_b,
    export_b,
    firmware,
    hardware,
    prepay_enabled,
    dst_enabled,
    tariffs_active,
    tariffs_future,

    -- timestamps
    polled_at,
    finished_at,
    meter_clock
from {{ snapshots }} as snapshots
where not exists (
    select
    from {{ verdicts }} as verdicts
    where
        verdicts.sync_id = snapshots.sync_id
        and verdicts.severity = 'error'
        and verdicts.passed is not true
)
