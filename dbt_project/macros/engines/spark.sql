{#-
    dbt-spark's safe_cast is a plain cast(), which fails the whole query on one bad value when
    ANSI mode is on (the default of Databricks SQL warehouses, and of the local `spark` target).
    try_cast returns null instead, as safe_cast does on every other engine. Databricks
    dispatches databricks__ then spark__, so this covers both.
-#}
{% macro spark__safe_cast(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}


{#-
    Register the Bronze lake (and optionally more Parquet folders) as tables, so that source()
    resolves on a Spark engine: one table per source table, in the source's schema
    (<bronze_schema>_<datasource>), over the folder that the source's DuckDB `external_location`
    names (every load's Parquet files, their schemas merged as DuckDB's union_by_name does).

        dbt run-operation create_bronze_tables --target spark \
            --args '{extra_tables: [{schema: snapshots, name: snap_patients, path: /x/snap_patients}]}'

    spark: unmanaged Parquet tables over the lake path (re-created on each call; dropping one
    never deletes data); run by tests/engines/test_spark_parity.py. Databricks dispatches here
    too, but that path is not tested offline: on Unity Catalog prefer the README's
    `create table ... location 'abfss://...'` under an external location. Synapse's external
    tables are DDL of their own (README). Other engines: a compile error.
-#}
{% macro create_bronze_tables(extra_tables=[]) %}
    {{ return(adapter.dispatch('create_bronze_tables', 'rcm')(extra_tables)) }}
{% endmacro %}

{% macro default__create_bronze_tables(extra_tables) %}
    {{ exceptions.raise_compiler_error(
        "create_bronze_tables: no implementation for " ~ target.type
        ~ " (DuckDB reads the lake directly; Synapse: see the README's external table DDL)"
    ) }}
{% endmacro %}

{% macro spark__create_bronze_tables(extra_tables) %}
    {%- set tables = [] -%}
    {%- for source in graph.sources.values() if source.package_name == project_name -%}
        {%- set location = source.source_meta.get('external_location') or source.meta.get('external_location', '') -%}
        {%- set found = modules.re.search("read_parquet\\('([^']+)/\\*/\\*\\.parquet'", location) -%}
        {%- if not found -%}
            {{ exceptions.raise_compiler_error(
                "create_bronze_tables: source " ~ source.source_name ~ "." ~ source.name
                ~ " has no read_parquet('<folder>/*/*.parquet') external_location"
            ) }}
        {%- endif -%}
        {%- do tables.append({
            'schema': source.schema,
            'name': source.identifier,
            'path': found.group(1) | replace('{name}', source.name),
        }) -%}
    {%- endfor -%}
    {%- for table in tables + extra_tables -%}
        {%- set relation = adapter.quote(table.schema) ~ '.' ~ adapter.quote(table.name) -%}
        {%- do run_query('create schema if not exists ' ~ adapter.quote(table.schema)) -%}
        {%- do run_query('drop table if exists ' ~ relation) -%}
        {%- do run_query(
            'create table ' ~ relation ~ " using parquet options (path '" ~ table.path
            ~ "', recursiveFileLookup 'true', pathGlobFilter '*.parquet', mergeSchema 'true')"
        ) -%}
        {%- do log('create_bronze_tables: ' ~ relation ~ ' <- ' ~ table.path, info=true) -%}
    {%- endfor -%}
{% endmacro %}
