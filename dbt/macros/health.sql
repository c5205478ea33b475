{#- A meter is healthy when its sync read every value, unhealthy when the read failed. -#}
{% macro health_of(outcome) -%}
    case
        when {{ outcome }} = 'ok' then 'healthy'
        when {{ outcome }} = 'failed' then 'unhealthy'
    end
{%- endmacro %}


{#- Why a meter is unhealthy: the error class and message of the failed read. -#}
{% macro health_details_of(outcome, error_class, error_message) -%}
    case
        when {{ outcome }} = 'failed' then {{ error_class }} || ': ' || {{ error_message }}
    end
{%- endmacro %}
