{#- Rows of the model that share the same values in all of `columns` (a composite key). -#}
{% test unique_combination(model, columns) %}
    select {{ columns | join(', ') }}
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}
