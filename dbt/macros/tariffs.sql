{#- The money fields of a tariff JSON (the Meter Domain page's structure) as numeric columns. -#}
{% macro tariff_columns(tariff_json, prefix) -%}
    {%- set fields = {
        'standing_charge': 'standing_charge',
        'unit_rate_a': 'unit_rate_element_a',
        'unit_rate_b': 'unit_rate_element_b',
        'ecredit_availability': 'prepayment_ecredit_availability',
        'debt_recovery_rate': 'prepayment_debt_recovery_rate',
        'emergency_credit': 'prepayment_emergency_credit',
    } -%}
    {%- for column, key in fields.items() %}
    ({{ tariff_json }} ->> '{{ key }}')::numeric as {{ prefix }}_{{ column }}
    {%- if not loop.last %},{% endif %}
    {%- endfor %}
{%- endmacro %}
