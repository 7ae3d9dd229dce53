{#- The keyword that makes an engine compute a CTE once, first, before the query that reads it:
    `materialized` on DuckDB (`with x as materialized (...)`), nothing elsewhere (Spark and
    Synapse have no such keyword; their planners are left to choose). For a small CTE that
    DuckDB's planner would otherwise join late: int_claim_kpi_outcomes' status versions of the
    changed claims. -#}
{% macro materialized_cte() -%}
    {{ return(adapter.dispatch('materialized_cte', 'rcm')()) }}
{%- endmacro %}

{% macro default__materialized_cte() -%}
    {{ return('') }}
{%- endmacro %}

{% macro duckdb__materialized_cte() -%}
    {{ return('materialized') }}
{%- endmacro %}
