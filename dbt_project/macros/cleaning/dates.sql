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


{#- A date's key in dim_date: YYYYMMDD as an integer (20240131); the unknown member when null
    or outside dim_date's days (vars dim_date_start, included, to dim_date_end, excluded): a
    key to a day dim_date does not hold would be a foreign key to a missing row, which points
    at the unknown member as every other one does (rpt_data_quality_summary counts a service
    date's). -#}
{% macro date_key(expression) -%}
    {%- set first_day = modules.datetime.date.fromisoformat(var('dim_date_start') | string) -%}
    {%- set end_day = modules.datetime.date.fromisoformat(var('dim_date_end') | string) -%}
    case
        when {{ expression }} is null then {{ unknown_key() }}
        when {{ expression }} < cast('{{ first_day.isoformat() }}' as date) then {{ unknown_key() }}
        when {{ expression }} >= cast('{{ end_day.isoformat() }}' as date) then {{ unknown_key() }}
        else cast(
            {{ date_part_of('year', expression) }} * 10000
            + {{ date_part_of('month', expression) }} * 100
            + {{ date_part_of('day', expression) }}
            as {{ dbt.type_int() }}
        )
    end
{%- endmacro %}


{#- One row per day from start_date (included) to end_date (excluded), column date_day, as
    dbt.date_spine gives, but without a query at compile time: dbt.date_spine asks the
    warehouse for the number of days, which breaks an offline compile. The count is computed
    here from the two ISO dates; the day numbers come from cross-joined digits. -#}
{% macro day_spine(start_date, end_date) -%}
    {%- set first_day = modules.datetime.date.fromisoformat(start_date | string) -%}
    {%- set day_count = (modules.datetime.date.fromisoformat(end_date | string) - first_day).days -%}
    {%- if day_count < 1 -%}
        {{ exceptions.raise_compiler_error(
            "day_spine: end_date " ~ end_date ~ " must be after start_date " ~ start_date
        ) }}
    {%- endif -%}
    {%- set places = (day_count - 1) | string | length -%}
    select
        cast({{ dbt.dateadd('day', 'numbers.day_number', "cast('" ~ first_day.isoformat() ~ "' as date)") }} as date)
            as date_day
    from (
        select
            {%- for place in range(places) %}
            digits_{{ place }}.digit * {{ 10 ** place }}{% if not loop.last %} +{% endif %}
            {%- endfor %}
            as day_number
        from
            {%- for place in range(places) %}
            (
                {%- for digit in range(10) %}
                select {{ digit }} as digit{% if not loop.last %} union all{% endif %}
                {%- endfor %}
            ) as digits_{{ place }}
            {%- if not loop.last %}
            cross join{% endif %}
            {%- endfor %}
    ) as numbers
    where numbers.day_number < {{ day_count }}
{%- endmacro %}
