{#
    Data-quality expressions shared by the CDM flags and the generic tests.
#}

{#- True when the text matches a regular expression (whole-string match: anchor it). -#}
{% macro regexp_matches(expression, pattern) -%}
    {{ return(adapter.dispatch('regexp_matches', 'rcm')(expression, pattern)) }}
{%- endmacro %}

{% macro default__regexp_matches(expression, pattern) -%}
    regexp_like({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro duckdb__regexp_matches(expression, pattern) -%}
    regexp_matches({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro spark__regexp_matches(expression, pattern) -%}
    ({{ expression }} rlike '{{ pattern }}')
{%- endmacro %}

{% macro sqlserver__regexp_matches(expression, pattern) -%}
    {{ exceptions.raise_compiler_error(
        "regexp_matches: T-SQL has no regular expressions; use a `like_pattern` for this test on "
        ~ target.type
    ) }}
{%- endmacro %}

{% macro synapse__regexp_matches(expression, pattern) -%}
    {{ rcm.sqlserver__regexp_matches(expression, pattern) }}
{%- endmacro %}


{#- True when the text is one or more ASCII digits. -#}
{% macro is_all_digits(expression) -%}
    {{ return(adapter.dispatch('is_all_digits', 'rcm')(expression)) }}
{%- endmacro %}

{% macro default__is_all_digits(expression) -%}
    {{ rcm.regexp_matches(expression, '^[0-9]+$') }}
{%- endmacro %}

{% macro sqlserver__is_all_digits(expression) -%}
    ({{ expression }} <> '' and {{ expression }} not like '%[^0-9]%')
{%- endmacro %}

{% macro synapse__is_all_digits(expression) -%}
    {{ rcm.sqlserver__is_all_digits(expression) }}
{%- endmacro %}


{#- NPI check digit: Luhn over the prefix 80840 followed by the NPI's first 9 digits.
    The prefix contributes a constant 24 to the Luhn sum; from the right, the check digit
    (10th) is not doubled, the 9th, 7th, 5th, 3rd and 1st digits are. -#}
{% macro npi_check_digit_is_valid(npi) -%}
    case
        when {{ npi }} is null then false
        when {{ dbt.length(npi) }} <> 10 then false
        when not {{ is_all_digits(npi) }} then false
        else (
            24
            {%- for position in range(1, 11) %}
            {%- set digit = "cast(substring(" ~ npi ~ ", " ~ position ~ ", 1) as " ~ dbt.type_int() ~ ")" %}
            {%- if position % 2 == 1 %}
            + case when {{ digit }} * 2 > 9 then {{ digit }} * 2 - 9 else {{ digit }} * 2 end
            {%- else %}
            + {{ digit }}
            {%- endif %}
            {%- endfor %}
        ) % 10 = 0
    end
{%- endmacro %}
