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
    select {{ dbt.dateadd('day', -1 * var('incremental_lookback_days'),
        "coalesce(max(newest." ~ column ~ "), cast('1900-01-01' as " ~ dbt.type_timestamp() ~ "))") }}
    from {{ this }} as newest
{%- endmacro %}


{#- "Replace every row of these keys": the strategy for incremental models that hold several
    rows per key (all versions of a claim) or whose rows for a key are recomputed together.
    delete+insert everywhere (dbt-databricks has it since 1.11: REPLACE ON), append on the
    offline `spark` check, which only ever runs a model's first build. -#}
{% macro replace_keys_strategy() -%}
    {{ return(adapter.dispatch('replace_keys_strategy', 'rcm')()) }}
{%- endmacro %}

{% macro default__replace_keys_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}

{% macro spark__replace_keys_strategy() -%}
    {{ return('append') }}
{%- endmacro %}

{#- dbt-databricks dispatches spark__ before default__: name it so Delta gets delete+insert. -#}
{% macro databricks__replace_keys_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}


{#- processed_at: when dbt (re)wrote a row, the start of the run, the same value for every
    model of a run. Incremental models pass change downstream with it: a model reads the
    upstream rows processed after its own newest row (processed_since_last_run), so a daily
    run reads what the day changed, whatever the order in which the lake received it. -#}
{% macro processed_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- The rows of an upstream relation processed since this incremental model's last run.
    `relation`: the model's table when `this` is not it (a replace_scope predicate). -#}
{% macro processed_since_last_run(column='processed_at', relation=none) -%}
    {{ column }} > (
        select coalesce(max(previous_run.processed_at), cast('1900-01-01' as {{ dbt.type_timestamp() }}))
        from {{ relation or this }} as previous_run
    )
{%- endmacro %}

{#- Bronze rows of loads that this staging model has not read: ingested no earlier than the
    lookback window before its newest row (so a load published late, by an ingest that ran
    alongside another, is still found), from a load of which it holds no row.
    `source_relation`: the model's source() call. Every Bronze row has a load id (the ingest
    writes one on each row); a row without one would not be read here.
    The unread loads are found first, from the load id column alone, and only then are their
    rows read: DuckDB turns the few load ids of that semi-join into a filter on the Parquet
    scan, which skips the files of every other load. A `not in` on the rows themselves read
    every column of every Bronze row in the window (5 s a day for Hospital A's claims at scale
    10, whose whole history was ingested within the window). -#}
{% macro from_unread_loads(source_relation, load_id='_load_id', ingested_at='_ingested_at') -%}
    {{ bronze_timestamp_to_filter(ingested_at) }} > ({{ incremental_watermark() }})
    and {{ load_id }} in (
        select new_loads.load_id
        from (
            select distinct in_window.{{ load_id }} as load_id
            from {{ source_relation }} as in_window
            where
                {{ bronze_timestamp_to_filter('in_window.' ~ ingested_at) }}
                > ({{ incremental_watermark() }})
        ) as new_loads
        where new_loads.load_id not in (
            select distinct read_loads.load_id
            from {{ this }} as read_loads
            where
                read_loads.load_id is not null
                and read_loads.ingested_at > ({{ incremental_watermark() }})
        )
    )
{%- endmacro %}


{#- A Bronze timestamp column, ready to compare with a warehouse timestamp in a filter.
    DuckDB reads `_ingested_at` from Parquet as TIMESTAMP WITH TIME ZONE: compared as it is
    (DuckDB casts the other side, in the same session time zone), the filter reaches the
    Parquet reader, which skips the files outside the window; cast to TIMESTAMP first, every
    row of every Bronze file is read (1.7 s per 15 M claim rows, on every daily build of every
    incremental staging model, growing with the lake). -#}
{% macro bronze_timestamp_to_filter(column) -%}
    {{ return(adapter.dispatch('bronze_timestamp_to_filter', 'rcm')(column)) }}
{%- endmacro %}

{% macro default__bronze_timestamp_to_filter(column) -%}
    cast({{ column }} as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro duckdb__bronze_timestamp_to_filter(column) -%}
    {{ column }}
{%- endmacro %}


{#- Staging, incremental runs: the new rows (CTE `new_rows_cte`) and the rows already staged
    for the same keys, so that the model's ranking picks the latest version as a full build
    would. `columns`: the staged columns that come from Bronze, in the CTE's order. The staged
    rows are found by their row ids first (macro rows_where): the keys are a few thousand of
    millions. -#}
{% macro with_staged_rows_of_same_keys(new_rows_cte, key_column, columns) -%}
    select * from {{ new_rows_cte }}
    {%- if is_incremental() %}
        union all
        select
            {{ columns | join(', ') }}
        from {{ this }}
        where {{ rows_where(this,
            key_column ~ ' in (select new_rows.' ~ key_column ~ ' from ' ~ new_rows_cte ~ ' as new_rows)') }}
    {%- endif %}
{%- endmacro %}


{#- Unioned CDM models, incremental runs: the staged rows processed since the last run, and
    again those of `source_system` that this model flagged with an unknown code (one of
    `flag_columns` false) when the code set now holds the code, so that the flag clears. A
    flagged row whose code is still unknown would come out the same: re-reading every flagged
    row on every run rewrote about 100,000 transactions a day at scale 10 (codes that no code
    set has), and their rows in fct_transactions. The model's key is `key_column`, qualified;
    the staged key is its source_<key_column>. -#}
{% macro processed_or_flagged(key_column, source_system, flag_columns) -%}
    {%- set code_sets = {
        'has_known_cpt_code': ('procedure_code', 'stg_codesets__cpt_codes', 'cpt_code'),
        'has_known_icd_code': ('icd_code', 'stg_codesets__icd10cm_codes', 'icd_code'),
    } -%}
    {{ processed_since_last_run() }}
    or {{ key_column }} in (
        select flagged.source_{{ key_column }} from {{ this }} as flagged
        where
            flagged.source_system = '{{ source_system }}'
            and (
                {%- for flag in flag_columns %}
                {%- set code_column, code_set, code_set_column = code_sets[flag] %}
                {{ 'or ' if not loop.first }}(
                    not {{ is_true('flagged.' ~ flag) }}
                    and flagged.{{ code_column }} in (
                        select known.{{ code_set_column }} from {{ ref(code_set) }} as known
                    )
                )
                {%- endfor %}
            )
    )
{%- endmacro %}


{#- Pre-hook of an incremental model fed by a *_unioned model: the keys whose latest version
    was quarantined since the model's last run leave the model, as they would in a full build
    (its input, the *_conformed view, has no row for them). "Since its last run", not "in this
    run": a run that quarantined a version and then failed before this model (`rcm build`'s
    retry is another dbt run), or a build that selected the CDM alone, left the key for a later
    run to remove. A pre-hook, so the last run is read before this run's rows are in. Nothing
    on a full build, or on the offline spark check (which has no DELETE). -#}
{% macro delete_quarantined_since_last_run(unioned_relation, key_column) -%}
    {%- if is_incremental() and target.type != 'spark' -%}
        {#- the last run's time as a literal, read first: Databricks' DELETE takes no subquery
            inside another -#}
        {%- set last_run = "cast('1900-01-01' as " ~ dbt.type_timestamp() ~ ")" -%}
        {%- if execute -%}
            {%- set newest = run_query('select max(processed_at) from ' ~ this).columns[0].values()[0] -%}
            {%- if newest is not none -%}
                {%- set last_run = "cast('" ~ newest ~ "' as " ~ dbt.type_timestamp() ~ ")" -%}
            {%- endif -%}
        {%- endif -%}
        delete from {{ this }}
        where {{ key_column }} in (
            select quarantined.{{ key_column }}
            from {{ unioned_relation }} as quarantined
            where
                quarantined.failed_rules is not null
                and quarantined.processed_at > {{ last_run }}
        )
    {%- endif -%}
{%- endmacro %}


{#- Custom incremental strategy `replace_scope`: delete the target's rows in a scope, then insert
    the new rows. For a model whose run rewrites a slice that keys cannot name (fct_ar_snapshots:
    the latest month ends, and every month of the claims that changed; a claim paid since the
    last run must leave the open A/R, so the old rows go even when no new row replaces them).
    The model names its scope in config `replace_scope_macro`: a macro that takes the target
    relation and returns a predicate over its columns; the model filters its rows with the same
    macro, so what is deleted and what is inserted are the same slice. A model may name a
    cheaper predicate for the delete in config `replace_scope_delete_macro`: a macro that takes
    the target and the new rows' relation (fct_claims: the claims of its new rows, and those
    that left its input), which must select the same target rows as the scope. -#}
{% macro replace_scope_strategy() -%}
    {{ return(adapter.dispatch('replace_scope_strategy', 'rcm')()) }}
{%- endmacro %}

{% macro default__replace_scope_strategy() -%}
    {{ return('replace_scope') }}
{%- endmacro %}

{% macro spark__replace_scope_strategy() -%}
    {{ return('append') }}
{%- endmacro %}

{#- as for replace_keys_strategy: without it Databricks would get the spark__ append -#}
{% macro databricks__replace_scope_strategy() -%}
    {{ return('replace_scope') }}
{%- endmacro %}

{#- The two statements of a replace_scope run. dbt-databricks passes no dest_columns and runs a
    list of statements one by one; the other engines take one batch.

    With by_merge, the first statement removes the scope's rows with a MERGE instead of a
    DELETE: Databricks' DELETE takes no subquery inside another (nor NOT IN inside OR), and
    the scope predicates hold such (`claim_id in (select ... where processed_at > (select
    max(...)))`), while a MERGE's source is any query. The source is the target's own rows in
    the scope, distinct; a target row is removed when it equals one of them in every column
    (NULL equal to NULL). That is the same set of rows as the DELETE's: the predicate is a
    function of the row's values, so a row equal to one in the scope is in it, and it matches
    one source row only (MERGE refuses a row that two source rows match). On DuckDB var
    replace_scope_by_merge runs this form, so that a test can compare it with the DELETE. -#}
{% macro replace_scope_statements(arg_dict, by_merge=false) -%}
    {%- set macro_name = config.get('replace_scope_macro') -%}
    {%- if not macro_name or macro_name not in context -%}
        {{ exceptions.raise_compiler_error(
            "incremental_strategy 'replace_scope' needs config replace_scope_macro: the name of a "
            ~ "macro that returns the predicate of the rows a run replaces (got "
            ~ (macro_name or 'nothing') ~ ")") }}
    {%- endif -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set dest_columns = arg_dict.get('dest_columns')
        or adapter.get_columns_in_relation(target) -%}
    {%- set columns = get_quoted_csv(dest_columns | map(attribute='name')) -%}
    {%- set delete_macro = config.get('replace_scope_delete_macro') -%}
    {%- if delete_macro and delete_macro not in context -%}
        {{ exceptions.raise_compiler_error(
            "replace_scope_delete_macro '" ~ delete_macro ~ "' is not a macro of the project") }}
    {%- endif -%}
    {%- set replaced = context[delete_macro](target, arg_dict['temp_relation']) if delete_macro
        else context[macro_name](target) -%}
    {%- if by_merge -%}
        {%- set matches = [] -%}
        {%- for column in dest_columns -%}
            {%- set name = adapter.quote(column.name) -%}
            {%- do matches.append('replaced_rows.' ~ name ~ ' is not distinct from scope_rows.' ~ name) -%}
        {%- endfor -%}
        {%- set remove = 'merge into ' ~ target ~ ' as replaced_rows using (select distinct '
            ~ columns ~ ' from ' ~ target ~ ' where ' ~ replaced ~ ') as scope_rows on '
            ~ matches | join(' and ') ~ ' when matched then delete' -%}
    {%- else -%}
        {%- set remove = 'delete from ' ~ target ~ ' where ' ~ replaced -%}
    {%- endif -%}
    {{ return([
        remove,
        'insert into ' ~ target ~ ' (' ~ columns ~ ') select ' ~ columns
            ~ ' from ' ~ arg_dict['temp_relation'],
    ]) }}
{%- endmacro %}

{% macro get_incremental_replace_scope_sql(arg_dict) -%}
    {{ return(adapter.dispatch('get_incremental_replace_scope_sql', 'rcm')(arg_dict)) }}
{%- endmacro %}

{% macro default__get_incremental_replace_scope_sql(arg_dict) -%}
    {{ return(replace_scope_statements(arg_dict, var('replace_scope_by_merge', false)) | join(';\n')) }}
{%- endmacro %}

{% macro databricks__get_incremental_replace_scope_sql(arg_dict) -%}
    {{ return(replace_scope_statements(arg_dict, true)) }}
{%- endmacro %}


{#- The Bronze loads the reconciliation test checks (tests/staging/assert_bronze_rows_in_staging_
    or_superseded.sql): env RCM_RECONCILE_LOADS, which `rcm build` sets from its build record
    (ingestion/build_state.py). "all" (also when unset or empty, so a plain `dbt build` checks
    everything), "none", or a comma-separated list of load ids: the loads that the last
    successful build of the same project did not read. reconcile_loads() returns none for all
    loads, else the list of ids (empty for "none"); reconcile_scope() renders it as a
    predicate on the Bronze load id column. On DuckDB the predicate also bounds the id by the
    list's first and last id: that range reaches the Parquet reader, which skips the files of
    other loads by their statistics (a Bronze file holds one load). An IN list of several ids
    alone does not: the scale-10 reconciliation of a week read all 5.7 M Bronze rows of a
    hospital's transactions to find the 0.3 M of its new loads. The ids are sorted by code
    point, as DuckDB compares strings; another engine's collation may order them otherwise,
    so elsewhere the list stands alone. -#}
{% macro reconcile_loads() -%}
    {%- set scope = env_var('RCM_RECONCILE_LOADS', 'all') | trim -%}
    {%- if scope | lower in ('', 'all') -%}
        {{ return(none) }}
    {%- elif scope | lower == 'none' -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set ids = [] -%}
    {%- for id in scope.split(',') if id | trim -%}
        {%- do ids.append(id | trim) -%}
    {%- endfor -%}
    {{ return(ids) }}
{%- endmacro %}

{% macro reconcile_scope(load_id='_load_id') -%}
    {%- set ids = reconcile_loads() -%}
    {%- if ids is none -%}
        1 = 1
    {%- elif ids | length == 0 -%}
        1 = 0
    {%- else -%}
        {%- set literals = [] -%}
        {%- for id in ids | sort(case_sensitive=true) -%}
            {%- do literals.append("'" ~ (id | replace("'", "''")) ~ "'") -%}
        {%- endfor -%}
        {%- set in_list = load_id ~ ' in (' ~ (literals | join(', ')) ~ ')' -%}
        {%- if target.type == 'duckdb' -%}
            ({{ load_id }} between {{ literals | first }} and {{ literals | last }} and {{ in_list }})
        {%- else -%}
            ({{ in_list }})
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
