{#- DuckDB: a model's nearly-distinct text columns stored without compression.

    DuckDB compresses each text column segment as it writes a table: it tries a dictionary,
    and for ids that are nearly all distinct ("hospital_a:C123456") it then builds FSST symbol
    tables, which is most of the time a large table takes to write. A model lists such columns
    in its config, `uncompressed_columns=[...]`; on DuckDB its table is then created with those
    columns declared `using compression uncompressed` and filled by an insert, and the rows
    that later incremental runs insert are stored the same way. Its other columns keep
    DuckDB's choice (statuses, payers and sources compress well and read faster compressed).
    Measured on `int_claims_conformed` at scale 10 (10 M rows, seven such id columns): written
    in 13.2-15.1 s instead of 21.8-23.7 s, in a table twice the size (1.98 GB against 0.97 GB;
    benchmarks/README.md).

    This overrides dbt-duckdb's create_table_as for models with that config; every other
    table, and every temporary one, is created by dbt-duckdb's own macro. Other engines ignore
    the config. A name that is not a column of the model fails the build and names it.
    RCM_DUCKDB_UNCOMPRESSED_COLUMNS=false leaves every column to DuckDB (a smaller file, slower
    writes) for the tables a build creates from then on (`rcm build --full-refresh`: all). -#}
{% macro duckdb__create_table_as(temporary, relation, compiled_code, language='sql', partitioned_by=none, sorted_by=none) -%}
    {%- set uncompressed = config.get('uncompressed_columns') or [] -%}
    {%- if env_var('RCM_DUCKDB_UNCOMPRESSED_COLUMNS', 'true') | lower in ('false', '0', 'no') -%}
        {%- set uncompressed = [] -%}
    {%- endif -%}
    {%- if temporary or language != 'sql' or not uncompressed
        or config.get('contract').enforced or partitioned_by or sorted_by -%}
        {{ dbt.duckdb__create_table_as(
            temporary, relation, compiled_code, language, partitioned_by, sorted_by) }}
    {%- else -%}
        {%- set described = run_query('describe ' ~ compiled_code) -%}
        {%- set names = described.columns['column_name'].values() -%}
        {%- set types = described.columns['column_type'].values() -%}
        {%- set lowered = names | map('lower') | list -%}
        {%- for column in uncompressed if column | lower not in lowered -%}
            {%- do exceptions.raise_compiler_error(
                "uncompressed_columns of " ~ model.name ~ " names " ~ column
                ~ ", which is not one of its columns (" ~ names | join(', ') ~ ")") -%}
        {%- endfor -%}
        {%- set wanted = uncompressed | map('lower') | list -%}
        {%- set sql_header = config.get('sql_header', none) -%}
        {{ sql_header if sql_header is not none }}
        create table {{ relation }} (
            {%- for name in names %}
            {{ adapter.quote(name) }} {{ types[loop.index0] }}
            {%- if name | lower in wanted %} using compression uncompressed{% endif -%}
            {{- ',' if not loop.last }}
            {%- endfor %}
        );
        insert into {{ relation }}
            select * from (
                {{ compiled_code }}
            ) as model_subq;
    {%- endif -%}
{%- endmacro %}


{#- The nearly-distinct ids of the tables that carry a claim version's or a transaction's ids,
    for their `uncompressed_columns` (written once: the CDM claims, their snapshot, the
    transactions staging of both hospitals). -#}
{% macro claim_version_id_columns() -%}
    {{ return([
        'claim_id', 'source_claim_id', 'transaction_id', 'source_transaction_id',
        'patient_id', 'source_patient_id', 'encounter_id',
    ]) }}
{%- endmacro %}

{% macro staged_transaction_id_columns() -%}
    {{ return(['transaction_id', 'encounter_id', 'patient_id', 'claim_id', 'medicaid_id']) }}
{%- endmacro %}
