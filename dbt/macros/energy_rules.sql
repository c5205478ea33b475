{#-
    The validation rules of the half-hourly energy (register_interval_hh), one macro each, over
    a span between two consecutive reads of one register: from_wh and to_wh (cumulative Wh, null
    when not read), half_hours (the span's length) and delta_wh (to_wh - from_wh). Their
    thresholds are the project's vars (dbt_project.yml, energy_*). Each rule is exercised by a
    unit test of register_interval_hh (register_interval_hh.yml).
-#}

{#- A half-hour without both of its bounding reads. -#}
{% macro rule_missing_read(from_wh, to_wh) -%}
    ({{ from_wh }} is null or {{ to_wh }} is null)
{%- endmacro %}


{#- A gap between two reads too long to estimate (var energy_max_estimated_gap_half_hours). -#}
{% macro rule_gap_too_long(half_hours) -%}
    ({{ half_hours }} > {{ var('energy_max_estimated_gap_half_hours') }})
{%- endmacro %}


{#- What the supply of a meter model can carry in a span, Wh (var energy_supply_limit_*). -#}
{% macro supply_limit_wh(hardware, half_hours) -%}
    {%- set limits = var('energy_supply_limit_kwh_per_half_hour') -%}
    {#- sqlfluff renders a var as its name: lint a plain value then. -#}
    {%- if limits is not mapping -%}{%- set limits = {'default': 11.5} -%}{%- endif -%}
    (case {{ hardware }}
        {%- for model, kwh in limits.items() if model != 'default' %}
        when '{{ model }}' then {{ kwh * 1000 }}
        {%- endfor %}
        else {{ limits['default'] * 1000 }}
    end * {{ half_hours }})
{%- endmacro %}


{#-
    A register that wrapped round its 32-bit counter (var energy_register_rollover_wh): it went
    backwards, and going on from the top would give a consumption the supply can carry.
-#}
{% macro rule_rollover(delta_wh, half_hours, hardware) -%}
    ({{ delta_wh }} < 0
        and {{ delta_wh }} + {{ var('energy_register_rollover_wh') }}
            <= {{ supply_limit_wh(hardware, half_hours) }})
{%- endmacro %}


{#- The consumption of a span, with a rollover counted on from the top of the counter. -#}
{% macro consumption_wh(delta_wh, half_hours, hardware) -%}
    (case
        when {{ rule_rollover(delta_wh, half_hours, hardware) }}
            then {{ delta_wh }} + {{ var('energy_register_rollover_wh') }}
        else {{ delta_wh }}
    end)
{%- endmacro %}


{#- A register that went backwards and did not roll over: negative consumption. -#}
{% macro rule_negative_consumption(delta_wh, half_hours, hardware) -%}
    ({{ delta_wh }} < 0 and not {{ rule_rollover(delta_wh, half_hours, hardware) }})
{%- endmacro %}


{#- The closing record says the meter reset its log or registers: no consumption from it. -#}
{% macro rule_register_reset(to_is_reset) -%}
    coalesce({{ to_is_reset }}, false)
{%- endmacro %}


{#- More energy in a span than the supply of the meter's model can carry. -#}
{% macro rule_over_supply_limit(consumption_wh, half_hours, hardware) -%}
    ({{ consumption_wh }} > {{ supply_limit_wh(hardware, half_hours) }})
{%- endmacro %}


{#- A bounding read the meter sent more than once with different values (the first is kept). -#}
{% macro rule_duplicate_timestamp(is_duplicate) -%}
    coalesce({{ is_duplicate }}, false)
{%- endmacro %}


{#-
    A read whose timestamp is not on the half-hour grid (:00 or :30, whole seconds): it is not
    the start of its own half-hour (floor_half_hour, a timestamp comparison, is far cheaper on
    millions of reads than numeric epoch arithmetic).
-#}
{% macro rule_off_grid(timestamp) -%}
    ({{ floor_half_hour(timestamp) }} <> {{ timestamp }})
{%- endmacro %}


{#- The meter's clock was out by more than the drift threshold (var clock_drift_threshold_seconds). -#}
{% macro rule_clock_drift(drift_seconds) -%}
    (abs({{ drift_seconds }}) >= {{ var('clock_drift_threshold_seconds') }})
{%- endmacro %}
