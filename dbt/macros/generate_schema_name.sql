{#
    Models land in exactly the schema they name (flows_staging, flows), not in
    dbt's default "<target schema>_<custom schema>": BI tools and the Meter Domain
    queries address `flows.<table>`.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
