{#- The incremental strategy each engine does best for "replace the rows of these keys":
    merge on Delta (databricks), delete+insert on DuckDB and Synapse. The `spark` target is the
    local, offline Spark check: without Delta jars it has no merge, so it appends (only a
    model's first, full build runs there: see tests/engines/test_spark_parity.py). -#}
{% macro replace_rows_strategy() -%}
    {{ return(adapter.dispatch('replace_rows_strategy', 'rcm')()) }}
{%- endmacro %}

{% macro default__replace_rows_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}

{% macro spark__replace_rows_strategy() -%}
    {{ return('append') }}
{%- endmacro %}

{% macro databricks__replace_rows_strategy() -%}
    {{ return('merge') }}
{%- endmacro %}


{#- The ingestion time up to which an incremental model is complete, minus the lookback. -#}
{% macro incremental_watermark(column='ingested_at') -%}
    select {{ dbt.dateadd('day', -1 * var('incremental_lookback_days'), 'max(' ~ column ~ ')') }}
    from {{ this }}
{%- endmacro %}
