{#- An upstream relation as a view's SQL should name it. DuckDB stores a view's query as
    written, so a database-qualified name ("rcm"."cdm"."x") breaks once the warehouse file is
    opened under another name (a copy, an ATTACH ... AS); named by schema and table, the view
    resolves in its own file. Other engines keep the full name. -#}
{% macro view_relation(relation) -%}
    {%- if target.type == 'duckdb' and relation.include is defined -%}
        {{ relation.include(database=False) }}
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}
