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


{#- The opposite: `not materialized` on DuckDB, so that each reader of a CTE reads its tables with
    its own filters. DuckDB computes a CTE that a query reads more than once in full, first; for
    alerts' claim outcomes that was all 10 M claims with their text columns at scale 10, read by
    two parts that keep the denied claims of the last days and the claims of the last four
    submission months (the model alone: 0.77-1.10 s, 0.36-0.37 s inlined). Nothing elsewhere. -#}
{% macro not_materialized_cte() -%}
    {{ return(adapter.dispatch('not_materialized_cte', 'rcm')()) }}
{%- endmacro %}

{% macro default__not_materialized_cte() -%}
    {{ return('') }}
{%- endmacro %}

{% macro duckdb__not_materialized_cte() -%}
    {{ return('not materialized') }}
{%- endmacro %}
