{#- The register elements of a meter model: A and B on twin-element meters, else SINGLE. -#}
{% macro register_elements(hardware) -%}
    case
        when {{ hardware }} in (
            {%- for model in var('twin_element_hardware') -%}
                '{{ model }}'{% if not loop.last %}, {% endif %}
            {%- endfor -%}
        ) then array['A', 'B']
        else array['SINGLE']
    end
{%- endmacro %}
