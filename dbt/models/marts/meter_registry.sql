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
    registry.loaded_at as registry_loaded_at,
    escos.esco_code,
    escos.esco_name,
    placed.service_head_name as service_head,
    placed.feeder_name as feeder,
    placed.site_code,
    placed.site_name
from {{ ref('stg_flows_raw__meter_registry') }} as registry
left join {{ ref('stg_flows_raw__escos') }} as escos on registry.esco_id = escos.esco_id
-- Where the meter is connected: its service head, that head's feeder, and the site of the
-- property it serves (the first by site code, should a service head serve several sites).
left join lateral (
    select
        heads.service_head_name,
        heads.feeder_name,
        sites.site_code,
        sites.site_name
    from {{ ref('stg_flows_raw__service_head_meters') }} as links
    inner join {{ ref('stg_flows_raw__service_heads') }} as heads
        on links.service_head_name = heads.service_head_name
    left join {{ ref('stg_flows_raw__property_service_heads') }} as properties
        on heads.service_head_name = properties.service_head_name
    left join {{ ref('stg_flows_raw__sites') }} as sites
        on properties.site_code = sites.site_code
    where links.serial = registry.serial
    order by sites.site_code
    limit 1
) as placed on true
left join lateral (
    select snapshots.prepay_enabled, snapshots.dst_enabled, snapshots.polled_at
    from {{ ref('stg_flows_raw__meter_sync_snapshots') }} as snapshots
    where
        snapshots.meter_id = registry.meter_id
        and (snapshots.prepay_enabled is not null or snapshots.dst_enabled is not null)
    order by snapshots.polled_at desc
    limit 1
) as reported on true
