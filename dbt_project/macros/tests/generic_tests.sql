{#
    Generic tests written on dbt-core's own macros (the dbt package hub is unreachable, so no
    dbt-utils / dbt-expectations). Each returns the failing rows.
#}

{#- Every non-null value matches the regular expression (anchor it with ^...$). -#}
{% test matches_regex(model, column_name, regex) %}
select {{ column_name }} as failing_value
from {{ model }}
where
    {{ column_name }} is not null
    and not {{ rcm.regexp_matches(column_name, regex) }}
{% endtest %}


{#- Every non-null value lies within [min_value, max_value] (either bound optional). -#}
{% test value_in_range(model, column_name, min_value=none, max_value=none) %}
select {{ column_name }} as failing_value
from {{ model }}
where
    {{ column_name }} is not null
    and (
        1 = 0
        {%- if min_value is not none %}
        or {{ column_name }} < {{ min_value }}
        {%- endif %}
        {%- if max_value is not none %}
        or {{ column_name }} > {{ max_value }}
        {%- endif %}
    )
{% endtest %}


{#- A boolean SQL expression holds on every row (optionally only where `where_clause`). -#}
{% test expression_is_true(model, expression, where_clause=none) %}
select *
from {{ model }}
where
    not ({{ expression }})
    {%- if where_clause %}
    and ({{ where_clause }})
    {%- endif %}
{% endtest %}


{#- The combination of the columns is unique. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
select
    {{ combination_of_columns | join(', ') }},
    count(*) as row_count
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}


{#- Every non-null NPI is 10 digits with a valid Luhn check digit (prefix 80840). -#}
{% test valid_npi_check_digit(model, column_name) %}
select {{ column_name }} as failing_value
from {{ model }}
where
    {{ column_name }} is not null
    and not {{ rcm.npi_check_digit_is_valid(column_name) }}
{% endtest %}
