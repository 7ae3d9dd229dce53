{#- The keyword that tells an engine how to run a CTE: `materialized` (compute it once, first,
    before the query that reads it) or `not materialized` (read its tables in each reader, with
    that reader's filters) on DuckDB; nothing elsewhere (Spark and Synapse have no such
    keyword; their planners are left to choose).
    - materialized: for a small CTE that DuckDB's planner would otherwise join late:
      int_claim_kpi_outcomes' status versions of the changed claims.
    - not materialized: DuckDB computes a CTE that a query reads more than once in full, first;
      for alerts' claim outcomes that was all 10 M claims with their text columns at scale 10,
      read by two parts that keep the denied claims of the last days and the claims of the last
      four submission months (the model alone: 0.77-1.10 s, 0.36-0.37 s inlined). -#}
{% macro cte_materialization(materialized=true) -%}
    {{ return(adapter.dispatch('cte_materialization', 'rcm')(materialized)) }}
{%- endmacro %}

{% macro default__cte_materialization(materialized) -%}
    {{ return('') }}
{%- endmacro %}

{% macro duckdb__cte_materialization(materialized) -%}
    {{ return('materialized' if materialized else 'not materialized') }}
{%- endmacro %}
