{#- The latest snapshot of the meter `registry.id` matching `condition`, as a lateral subquery
    of `columns`: one row read from the (meter_id, polled_at) index. -#}
{% macro latest_snapshot(columns, condition='true', first=false) -%}
    (
        select {{ columns | join(', ') }}
        from {{ ref('stg_flows_raw__meter_sync_snapshots') }} as snapshots
        where snapshots.meter_id = registry.id and ({{ condition }})
        order by snapshots.polled_at {{ 'asc' if first else 'desc' }}
        limit 1
    )
{%- endmacro %}
