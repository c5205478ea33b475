{#- The UK calendar day (Europe/London, BST in summer) a timestamptz falls on. -#}
{% macro uk_day(timestamp_expression) -%}
    ({{ timestamp_expression }} at time zone 'Europe/London')::date
{%- endmacro %}
