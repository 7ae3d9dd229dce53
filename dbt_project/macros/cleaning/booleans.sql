{#
    Booleans. T-SQL (Synapse) has no boolean type and no true/false literals: a flag is a bit
    (1/0) and a bit column is not a predicate (`where is_current` must be `is_current = 1`).
    Models write flags and test them through these macros; every other engine keeps its own
    true/false, so DuckDB, Spark and Databricks output is unchanged.

    bool_true() / bool_false()   a flag value          (true / cast(1 as bit))
    bool_type()                  the flag type          (boolean / bit)
    is_true(column)              a flag as a predicate  (column / column = 1)
#}

{% macro bool_true() -%}
    {{ return(adapter.dispatch('bool_true', 'rcm')()) }}
{%- endmacro %}

{% macro default__bool_true() -%}
    true
{%- endmacro %}

{% macro sqlserver__bool_true() -%}
    cast(1 as bit)
{%- endmacro %}

{% macro synapse__bool_true() -%}
    {{ rcm.sqlserver__bool_true() }}
{%- endmacro %}


{% macro bool_false() -%}
    {{ return(adapter.dispatch('bool_false', 'rcm')()) }}
{%- endmacro %}

{% macro default__bool_false() -%}
    false
{%- endmacro %}

{% macro sqlserver__bool_false() -%}
    cast(0 as bit)
{%- endmacro %}

{% macro synapse__bool_false() -%}
    {{ rcm.sqlserver__bool_false() }}
{%- endmacro %}


{% macro bool_type() -%}
    {{ return(adapter.dispatch('bool_type', 'rcm')()) }}
{%- endmacro %}

{% macro default__bool_type() -%}
    boolean
{%- endmacro %}

{% macro sqlserver__bool_type() -%}
    bit
{%- endmacro %}

{% macro synapse__bool_type() -%}
    {{ rcm.sqlserver__bool_type() }}
{%- endmacro %}


{% macro is_true(column) -%}
    {{ return(adapter.dispatch('is_true', 'rcm')(column)) }}
{%- endmacro %}

{% macro default__is_true(column) -%}
    {{ column }}
{%- endmacro %}

{% macro sqlserver__is_true(column) -%}
    ({{ column }} = 1)
{%- endmacro %}

{% macro synapse__is_true(column) -%}
    {{ rcm.sqlserver__is_true(column) }}
{%- endmacro %}
