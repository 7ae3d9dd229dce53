{#- Calendar parts of a date, the same on every engine (dbt-core has no date_part macro). -#}
{% macro date_part_of(part, expression) -%}
    {{ return(adapter.dispatch('date_part_of', 'rcm')(part, expression)) }}
{%- endmacro %}

{% macro default__date_part_of(part, expression) -%}
    extract({{ part }} from {{ expression }})
{%- endmacro %}

{% macro sqlserver__date_part_of(part, expression) -%}
    datepart({{ part }}, {{ expression }})
{%- endmacro %}

{% macro synapse__date_part_of(part, expression) -%}
    {{ rcm.sqlserver__date_part_of(part, expression) }}
{%- endmacro %}


{#- A date's key in dim_date: 'YYYYMMDD' as a string; the unknown member when null. -#}
{% macro date_key(expression) -%}
    case
        when {{ expression }} is null then {{ unknown_key() }}
        else cast(
            {{ date_part_of('year', expression) }} * 10000
            + {{ date_part_of('month', expression) }} * 100
            + {{ date_part_of('day', expression) }}
            as {{ dbt.type_string() }}
        )
    end
{%- endmacro %}
