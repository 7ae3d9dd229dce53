{#
    Keys, made the same way everywhere.

    qualified_id: a source-qualified natural key, "<source_system>:<id>" (hospital_a:PAT000001).
        Both hospitals use the same id ranges, so every CDM key carries its hospital.
    surrogate_key: a hashed surrogate key over one or more columns (null-safe), a 64-bit
        integer (bigint): the first 16 hex digits of the md5 of the joined columns, with the
        sign bit cleared. The same number on every engine (the Spark parity test compares
        them). A key of 8 bytes, not a 32-character string, halves the write of the largest
        tables and speeds every join and key test.
    hashed_id: the same hash as 32 hex characters, for ids that must stay text (alert ids).
    unknown_key: the key of every dimension's unknown member (-1, never a hash: hashes are
        not negative). Facts point at it when a foreign key is null or names a row that does
        not exist, so they never lose rows to an inner join.
#}

{% macro qualified_id(source_system, id_column) -%}
    case
        when {{ id_column }} is null then null
        else {{ dbt.concat([source_system, "':'", id_column]) }}
    end
{%- endmacro %}


{#- The text that a key hashes: the columns as strings, joined by '|', null as '_null_'. -#}
{% macro key_text(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append(
            "coalesce(cast(" ~ column ~ " as " ~ dbt.type_string() ~ "), '_null_')"
        ) -%}
        {%- if not loop.last -%}{%- do parts.append("'|'") -%}{%- endif -%}
    {%- endfor -%}
    {{ dbt.concat(parts) }}
{%- endmacro %}


{% macro surrogate_key(columns) -%}
    {{ key_from_text(key_text(columns)) }}
{%- endmacro %}


{#- The 32-character md5 of the same text: for ids that leave the warehouse and must keep
    their form (alert ids, which webhooks receive and the posted-alerts state file keeps). -#}
{% macro hashed_id(columns) -%}
    {{ dbt.hash(key_text(columns)) }}
{%- endmacro %}


{#- A text's 64-bit key: the first 16 hex digits (8 bytes) of its md5, read as a big-endian
    integer, with the sign bit cleared (0 <= key < 2^63). -#}
{% macro key_from_text(text) -%}
    {{ return(adapter.dispatch('key_from_text', 'rcm')(text)) }}
{%- endmacro %}

{% macro default__key_from_text(text) -%}
    {{ exceptions.raise_compiler_error(
        "rcm.key_from_text has no form for the '" ~ adapter.type() ~ "' adapter: add an "
        ~ adapter.type() ~ "__key_from_text macro in dbt_project/macros/keys/keys.sql"
    ) }}
{%- endmacro %}

{% macro duckdb__key_from_text(text) -%}
    cast(
        cast(('0x' || substr(md5({{ text }}), 1, 16)) as ubigint) & 9223372036854775807
        as bigint
    )
{%- endmacro %}

{#- Spark and Databricks: conv with a negative target base reads the 16 digits as signed. -#}
{% macro spark__key_from_text(text) -%}
    (cast(conv(substr(md5({{ text }}), 1, 16), 16, -10) as bigint) & 9223372036854775807)
{%- endmacro %}

{% macro sqlserver__key_from_text(text) -%}
    (convert(bigint, substring(hashbytes('md5', {{ text }}), 1, 8)) & 9223372036854775807)
{%- endmacro %}

{% macro synapse__key_from_text(text) -%}
    {{ rcm.sqlserver__key_from_text(text) }}
{%- endmacro %}


{% macro unknown_key() -%}
    -1
{%- endmacro %}


{#- A fact row that points at the unknown member of any of these dimension keys (a late-arriving
    dimension row): incremental facts re-derive such rows. `alias`: the fact table's alias. -#}
{% macro points_at_unknown_member(alias, key_columns) -%}
    {%- for column in key_columns %}
        {% if not loop.first %}or {% endif %}{{ alias }}.{{ column }} = {{ unknown_key() }}
    {%- endfor %}
{%- endmacro %}


{#- The ids of the rows of an incremental fact (`fact`, its table) that point at the unknown
    member of a dimension that now holds their natural key, whatever the dimension row's
    processed_at (a patient snapshot taken in a later dbt invocation than the patient's CDM
    row; a code added to a code set). A row whose key is still missing would come out the
    same, so it is not among them. `conformed`: the fact's CDM input, keyed by `id_column`;
    `dimensions`: (fact key column, CDM natural key column, dimension model, dimension natural
    key column) tuples. -#}
{% macro rows_at_a_member_now_known(fact, conformed, id_column, dimensions) -%}
    select now_known.{{ id_column }}
    from {{ conformed }} as now_known
    inner join (
        {#- an OR of several keys does not reach the scan: it reads the row ids first #}
        {%- set unknown = points_at_unknown_member('unknown_rows', dimensions | map('first')) %}
        select * from {{ fact }} as unknown_rows
        where {{ rows_where(fact, unknown, 'unknown_rows') if dimensions | length > 1 else unknown }}
    ) as unknown_members
        on now_known.{{ id_column }} = unknown_members.{{ id_column }}
    where
        {%- for key, column, dimension, dimension_column in dimensions %}
        {% if not loop.first %}or {% endif -%}
        (
            unknown_members.{{ key }} = {{ unknown_key() }}
            and now_known.{{ column }} in (
                select known.{{ dimension_column }} from {{ ref(dimension) }} as known
                where known.{{ key }} <> {{ unknown_key() }}
            )
        )
        {%- endfor %}
{%- endmacro %}


{#- A dimension key for a foreign key: the hashed key when the referenced row exists, else the
    unknown member. `exists_column` is a column of the joined dimension (null when no match). -#}
{% macro dimension_key(natural_columns, exists_column) -%}
    case
        when {{ exists_column }} is null then {{ unknown_key() }}
        else {{ surrogate_key(natural_columns) }}
    end
{%- endmacro %}


{#- Stops an incremental run on a table whose key columns are not integers: a warehouse built
    before the keys became 64-bit integers (they were 32-character md5 strings). Inserting the
    new keys into it would mix the two forms; a full refresh rebuilds it. Renders nothing.
    Call it in the body of an incremental model, with the model's key columns. An offline
    compile (var offline_compile, tests/engines) has no warehouse to ask, and a unit test's
    `this` is its fixture's name, not a table: it checks nothing then. -#}
{% macro require_integer_keys(key_columns) -%}
    {%- if execute and is_incremental() and not var('offline_compile', false)
        and this is not string -%}
        {%- set found = {} -%}
        {%- for column in adapter.get_columns_in_relation(this) -%}
            {%- do found.update({column.name | lower: column}) -%}
        {%- endfor -%}
        {%- for name in key_columns if name in found and not found[name].is_integer() -%}
            {{ exceptions.raise_compiler_error(
                this ~ "." ~ name ~ " is " ~ found[name].dtype ~ ": the table was built by an "
                ~ "older version, whose keys were md5 strings; keys are 64-bit integers now. "
                ~ "Run `rcm build --full-refresh` once to rebuild the incremental models."
            ) }}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
