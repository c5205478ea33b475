{#- A meter is healthy when its sync read every value, partial when it answered but refused or
    garbled some objects, unhealthy when nothing could be read. -#}
{% macro health_of(outcome) -%}
    case
        when {{ outcome }} = 'ok' then 'healthy'
        when {{ outcome }} = 'partial' then 'partial'
        when {{ outcome }} = 'failed' then 'unhealthy'
    end
{%- endmacro %}


{#- Why a meter is not healthy: for a failed read the error class and message; for a partial
    one the objects that failed, by name, then the first error. -#}
{% macro health_details_of(outcome, error_class, error_message, object_errors=none) -%}
    case
        when {{ outcome }} = 'failed' then {{ error_class }} || ': ' || {{ error_message }}
        {%- if object_errors is not none %}
        when {{ outcome }} = 'partial' then
            'partial, failed objects: '
            || (
                select string_agg(failed.name, ', ' order by failed.name)
                from jsonb_object_keys({{ object_errors }}) as failed (name)
            )
            || '; ' || {{ error_class }} || ': ' || {{ error_message }}
        {%- endif %}
    end
{%- endmacro %}

