-- Every meter of the registry file. The flags the file may leave empty (prepayment, daylight
-- saving correction) are filled from what the meter last reported; both sources are kept, so a
-- disagreement can be seen (and is listed by the registry_meter_disagreements check).
-- The lateral reads one row per meter from the snapshots' (meter_id, polled_at) index.
select
    registry.meter_id as id,
    registry.serial,
    registry.name,
    registry.ip_address,
    registry.port,
    registry.hardware,
    registry.mode,
    registry.esco_id as esco,
    registry.installation_status,
    registry.not_polled_reason is null as polled,
    registry.not_polled_reason,
    registry.single_meter_app,
    coalesce(
        registry.daylight_savings_correction_enabled, reported.dst_enabled
    ) as daylight_savings_correction_enabled,
    registry.daylight_savings_correction_enabled as daylight_savings_correction_registry,
    reported.dst_enabled as daylight_savings_correction_reported,
    coalesce(registry.prepay_enabled, reported.prepay_enabled) as prepay_enabled,
    registry.prepay_enabled as prepay_enabled_registry,
    reported.prepay_enabled as prepay_enabled_reported,
    reported.polled_at as flags_reported_at,
    registry.loaded_at as registry_loaded_at
from {{ ref('stg_flows_raw__meter_registry') }} as registry
left join lateral (
    select snapshots.prepay_enabled, snapshots.dst_enabled, snapshots.polled_at
    from {{ ref('stg_flows_raw__meter_sync_snapshots') }} as snapshots
    where
        snapshots.meter_id = registry.meter_id
        and (snapshots.prepay_enabled is not null or snapshots.dst_enabled is not null)
    order by snapshots.polled_at desc
    limit 1
) as reported on true
