{#
    Generic tests written on dbt-core's own macros (the dbt package hub is unreachable, so no
    dbt-utils / dbt-expectations). Each returns the failing rows.
#}

{#- Every non-null value matches the regular expression (anchor it with ^...$). -#}
{% test matches_regex(model, column_name, regex) %}
select {{ column_name }} as failing_value
from {{ model }}
where
    {{ column_name }} is not null
    and not {{ rcm.regexp_matches(column_name, regex) }}
{% endtest %}


{#- Every non-null value lies within [min_value, max_value] (either bound optional). -#}
{% test value_in_range(model, column_name, min_value=none, max_value=none) %}
select {{ column_name }} as failing_value
from {{ model }}
where {{ rcm.out_of_range(column_name, min_value, max_value) }}
{% endtest %}


{#- value_in_range for several columns of a model in one test: one dbt node and one scan of the
    model, where a test per column is a node and a scan each. `columns` maps a column to its
    bounds ({min_value, max_value}, either optional). Returns one row per column and value out
    of range, as the one-column tests would: the failure count is their sum. -#}
{% test value_in_range_columns(model, columns) %}
{%- if not columns %}
    {{ exceptions.raise_compiler_error("value_in_range_columns: columns is empty") }}
{%- endif %}
{%- if columns is not mapping %}
    {{ exceptions.raise_compiler_error(
        "value_in_range_columns: columns maps each column to its bounds "
        ~ "(column: {min_value: ..., max_value: ...}), not " ~ columns) }}
{%- endif %}
{%- set checks = [] %}
{%- for column, bounds in columns.items() %}
    {%- if bounds is not mapping
        or (bounds.get('min_value') is none and bounds.get('max_value') is none) %}
        {{ exceptions.raise_compiler_error(
            "value_in_range_columns: column " ~ column ~ " needs its bounds as "
            ~ "{min_value: ..., max_value: ...} (either one may be left out), not " ~ bounds) }}
    {%- endif %}
    {%- do checks.append(rcm.out_of_range(column, bounds.get('min_value'), bounds.get('max_value'))) %}
{%- endfor %}
with

out_of_range_rows as (
    select {{ columns.keys() | join(', ') }}
    from {{ model }}
    where
        {{ checks | join('\n        or ') }}
)

{%- for column in columns %}

select
    '{{ column }}' as column_name,
    cast({{ column }} as {{ dbt.type_string() }}) as failing_value
from out_of_range_rows
where {{ checks[loop.index0] }}
{%- if not loop.last %}

union all
{%- endif %}
{%- endfor %}
{% endtest %}


{#- A non-null `column` outside [min_value, max_value] (either bound optional; with neither,
    nothing is out of range), as one parenthesized predicate. -#}
{% macro out_of_range(column, min_value=none, max_value=none) -%}
    {%- set outside = [] -%}
    {%- if min_value is not none -%}
        {%- do outside.append(column ~ ' < ' ~ min_value) -%}
    {%- endif -%}
    {%- if max_value is not none -%}
        {%- do outside.append(column ~ ' > ' ~ max_value) -%}
    {%- endif -%}
    ({{ column }} is not null and ({{ (outside or ['1 = 0']) | join(' or ') }}))
{%- endmacro %}


{#- A boolean SQL expression holds on every row (optionally only where `where_clause`). -#}
{% test expression_is_true(model, expression, where_clause=none) %}
select *
from {{ model }}
where
    not ({{ expression }})
    {%- if where_clause %}
    and ({{ where_clause }})
    {%- endif %}
{% endtest %}


{#- No two rows share the combination of the columns. latest_run_only (an incremental model with
    processed_at): in a daily build (the scope of changed_rows.sql: `rcm build` on top of a
    recorded successful build of the same project, reconcile_loads() is a list), check only the
    combinations that a row of the latest run (the newest processed_at) has, against the whole
    table. Any duplicate that involves a row the latest run wrote is still found; rows no run has
    rewritten since passed in the successful build that left them. Every other build checks
    every row: after a failed build, a duplicate among the rows of that build's run would
    otherwise go unreported once a later run had written newer rows. When every row is of one
    run (after a full build), the test checks every row without the scope, which would select
    them all. The scope is the whole combination, not one of its columns: fct_ar_snapshots'
    latest run holds the whole as-of month, and the claims of that month have rows in most
    earlier month ends too (scale 10: 3.2 M rows in scope against 11.8 M when scoped by
    claim_key; 1.2 s alone against 2.6 s). -#}
{% test unique_combination_of_columns(model, combination_of_columns, latest_run_only=false) %}
{#- the check queries the warehouse: DuckDB only (the other engines' tests also compile offline) -#}
{%- set scoped = latest_run_only
    and reconcile_loads() is not none
    and (target.type != 'duckdb' or (execute and rows_of_earlier_runs(model))) -%}
{{ adapter.dispatch('duplicate_combinations', 'rcm')(model, combination_of_columns, scoped) }}
{% endtest %}


{#- Whether `model` holds rows of more than one run (processed_at differs). After a full build
    it does not, and scoping a test to the latest run's keys would only add a semi-join over
    every row (fct_ar_snapshots at scale 1: 2.2 s with it, 0.5 s without). -#}
{% macro rows_of_earlier_runs(model) -%}
    {%- set spans = run_query(
        'select min(processed_at) < max(processed_at) from ' ~ model) -%}
    {{ return(spans is not none and spans.rows | length > 0 and spans.rows[0][0] is true) }}
{%- endmacro %}


{#- The combinations of `columns` that more than one row of `model` has, with their number of
    rows; `latest_run_only`: only the combinations of the latest run's rows. Portable: one
    group by, the scope as an `exists` on the model's table (a key column's nulls are left to
    its not_null test). -#}
{% macro default__duplicate_combinations(model, columns, latest_run_only) -%}
select
    {{ columns | join(', ') }},
    count(*) as row_count
from {{ model }}
{%- if latest_run_only %} as all_rows
where exists (
    select 1 from {{ model }} as latest_rows
    where
        {{ of_latest_run(model, 'latest_rows.') }}
        {%- for column in columns %}
        and latest_rows.{{ column }} = all_rows.{{ column }}
        {%- endfor %}
)
{%- endif %}
group by {{ columns | join(', ') }}
having count(*) > 1
{%- endmacro %}


{#- DuckDB: by a 64-bit hash of the columns, which is much cheaper than their values
    (fct_ar_snapshots' key is a date and a surrogate key, 47 M rows at scale 10). Equal
    combinations have equal hashes (nulls included), and a hash collision of different
    combinations only adds rows to the final group by on the values.
    Every row: two passes, the first groups the hashes, the second the values of the rows whose
    hash came up more than once. Both read the model: a CTE over it would be materialized whole.
    The latest run only: one pass over the rows whose hash a row of the latest run has. -#}
{% macro duckdb__duplicate_combinations(model, columns, latest_run_only) -%}
{%- set hashed = 'hash(' ~ (columns | join(', ')) ~ ')' -%}
select
    {{ columns | join(', ') }},
    count(*) as row_count
from {{ model }}
where
    {{ hashed }} in (
        select {{ hashed }}
        from {{ model }}
        {%- if latest_run_only %} as latest_rows
        where {{ of_latest_run(model, 'latest_rows.') }}
        {%- else %}
        group by {{ hashed }}
        having count(*) > 1
        {%- endif %}
    )
group by {{ columns | join(', ') }}
having count(*) > 1
{%- endmacro %}


{#- Every non-null NPI is 10 digits with a valid Luhn check digit (prefix 80840). -#}
{% test valid_npi_check_digit(model, column_name) %}
select {{ column_name }} as failing_value
from {{ model }}
where
    {{ column_name }} is not null
    and not {{ rcm.npi_check_digit_is_valid(column_name) }}
{% endtest %}


{#- No column of `column_names` holds a null. One test and one scan of the model for all its
    not-null columns, where dbt's not_null is a test (and a dbt node) per column. Returns one row
    per column that has nulls, with their number; the failure count is the number of nulls. -#}
{% test not_null_columns(model, column_names) %}
{{ config(fail_calc='coalesce(sum(null_rows), 0)') }}
{%- if not column_names %}
    {{ exceptions.raise_compiler_error("not_null_columns: column_names is empty") }}
{%- endif %}
{%- if column_names is string or column_names is mapping or column_names is not iterable %}
    {{ exceptions.raise_compiler_error(
        "not_null_columns: column_names is a list of columns (one '- column' a line), not "
        ~ column_names) }}
{%- endif %}
{%- for column in column_names %}
    {#- `- name: code`, as a model's columns are written, is a mapping: it compiled, and the
        SQL, made of the text {'name': 'code'}, failed only when the test ran -#}
    {%- if column is not string %}
        {{ exceptions.raise_compiler_error(
            "not_null_columns: column_names is a list of column names (one '- column' a line, "
            ~ "e.g. '- code', not '- name: code'), not " ~ column) }}
    {%- endif %}
{%- endfor %}
select
    per_column.column_name,
    per_column.null_rows
from (
    select
        names.column_name,
        case names.column_name
        {%- for column in column_names %}
            when '{{ column }}' then counts.nulls_{{ loop.index }}
        {%- endfor %}
        end as null_rows
    from (
        select
        {%- for column in column_names %}
            count(*) - count({{ column }}) as nulls_{{ loop.index }}{{ "," if not loop.last }}
        {%- endfor %}
        from {{ model }}
    ) as counts
    cross join (
        {%- for column in column_names %}
        select '{{ column }}' as column_name{{ " union all" if not loop.last }}
        {%- endfor %}
    ) as names
) as per_column
where per_column.null_rows > 0
{% endtest %}


{#- Each code column holds only its accepted values: dbt's accepted_values for all of a model's
    code columns in one test (one dbt node and one scan of the model, where dbt runs a node and
    a scan per column). `columns` maps a column to its accepted values; nulls pass, as in dbt's.
    The model's rows are first counted per combination of the code columns (a few hundred
    groups: they are low-cardinality), then each column's values are checked on those counts.
    Returns one row per column and value that is not accepted, with its number of rows; the
    failure count is the number of such values, as dbt's accepted_values counts them. -#}
{% test accepted_values_columns(model, columns) %}
{%- if not columns %}
    {{ exceptions.raise_compiler_error("accepted_values_columns: columns is empty") }}
{%- endif %}
{%- if columns is not mapping %}
    {{ exceptions.raise_compiler_error(
        "accepted_values_columns: columns maps each column to the list of its accepted values "
        ~ "(column: [value, ...]), not " ~ columns) }}
{%- endif %}
{%- for column, values in columns.items() %}
    {#- a single value written without brackets would be read letter by letter -#}
    {%- if values is string or values is mapping or values is not iterable or not values %}
        {{ exceptions.raise_compiler_error(
            "accepted_values_columns: column " ~ column ~ " needs its accepted values as a "
            ~ "list ([value, ...] or one '- value' a line), not " ~ values) }}
    {%- endif %}
{%- endfor %}
{%- set names = columns.keys() | list %}
with

value_combinations as (
    select
        {{ names | join(', ') }},
        count(*) as row_count
    from {{ model }}
    group by {{ names | join(', ') }}
)

{%- for column in names %}

select
    '{{ column }}' as column_name,
    cast({{ column }} as {{ dbt.type_string() }}) as value_field,
    sum(row_count) as n_records
from value_combinations
where {{ column }} not in (
    {%- for value in columns[column] -%}
        '{{ value | string | replace("'", "''") }}'{{ ", " if not loop.last }}
    {%- endfor -%}
)
group by {{ column }}
{%- if not loop.last %}

union all
{%- endif %}
{%- endfor %}
{% endtest %}


{#- Every non-null value of each foreign key column is a key of its parent: dbt's relationships
    for all of a model's foreign keys in one test. `relationships` is a list of {column, to,
    field}. Returns the orphan values; the failure count is their number (a child row with two
    orphan keys counts twice), as one relationships test per column would count them. -#}
{% test relationships_columns(model, relationships) %}
{{ config(fail_calc='coalesce(sum(orphan_keys), 0)') }}
{%- if not relationships %}
    {{ exceptions.raise_compiler_error("relationships_columns: relationships is empty") }}
{%- endif %}
{#- a single entry, or a scalar (relationships: 3), without the list: named, not iterated -#}
{%- set not_a_list = relationships is string or relationships is mapping
    or relationships is not iterable %}
{%- for relationship in ([relationships] if not_a_list else relationships) %}
    {%- if not_a_list
        or relationship is not mapping
        or relationship.get('column') is none
        or relationship.get('to') is none
        or relationship.get('field') is none %}
        {{ exceptions.raise_compiler_error(
            "relationships_columns: relationships is a list of one {column: ..., "
            ~ "to: ref('...'), field: ...} per foreign key, not " ~ relationship) }}
    {%- endif %}
{%- endfor %}
{{ adapter.dispatch('orphan_keys', 'rcm')(model, relationships) }}
{% endtest %}


{#- Portable: one anti-join per foreign key, as dbt's relationships test, one row per orphan
    value. -#}
{% macro default__orphan_keys(model, relationships) -%}
{%- for relationship in relationships %}
select
    '{{ relationship.column }}' as column_name,
    cast(child.{{ relationship.column }} as {{ dbt.type_string() }}) as from_field,
    1 as orphan_keys
from {{ model }} as child
left join {{ relationship.to }} as parent
    on child.{{ relationship.column }} = parent.{{ relationship.field }}
where
    child.{{ relationship.column }} is not null
    and parent.{{ relationship.field }} is null
{%- if not loop.last %}
union all
{%- endif %}
{%- endfor %}
{%- endmacro %}


{#- DuckDB. A key whose parent is a table of at most few_parent_rows() rows (a dimension of
    payers, departments, dates, codes) is checked per distinct value: the model's rows are
    counted per value of that key (one group by over one column, a handful of values repeated
    over millions of rows), and each value is looked up once. The other keys (a parent of many
    rows: fct_claims, dim_patient) are probed row by row, all in one scan of the model. Each
    look-up is a `not in` the parent's keys (a mark join whose hash table holds the parent, see
    duckdb__test_relationships below). Scale 10, each test alone, every key probed row by row
    before: fct_ar_snapshots 1.46 s -> 1.21 s, fct_transactions 0.76 -> 0.52 s, fct_claims
    0.56 -> 0.41 s (grouping the dimension keys together instead, one group by per model, was
    slower where their combinations are many: 1.69 s for fct_transactions). Returns the
    orphans: per child row with an orphan key of a large parent (its keys, which are orphans,
    how many), and per orphan value of a small parent's key (the value, and its child rows as
    the orphan keys' number), so that the failure count is what dbt's one-column tests count. -#}
{% macro duckdb__orphan_keys(model, relationships) -%}
{%- set small = rcm.small_tables() %}
{%- set per_value = [] %}
{%- set per_row = [] %}
{%- for relationship in relationships %}
    {%- set parent = relationship.to %}
    {%- set name = [parent.database, parent.schema, parent.identifier] | join('.')
        if parent.identifier is defined and parent.identifier else none %}
    {%- do (per_value if name in small else per_row).append(relationship) %}
{%- endfor %}
{%- set columns = relationships | map(attribute='column') | list %}
{%- set probed = per_row | map(attribute='column') | list %}
{%- if per_row %}
with

flagged as (
    select
    {%- for relationship in per_row %}
        child.{{ relationship.column }},
        {{ rcm.orphan_key('child.' ~ relationship.column, relationship) | indent(8) }}
            as orphan_{{ loop.index }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }} as child
)

select
    {%- for column in columns %}
    {{ column if column in probed else 'null' }} as {{ column }},
    {%- endfor %}
    concat_ws(
        ', '
    {%- for relationship in per_row %},
        case when orphan_{{ loop.index }} then '{{ relationship.column }}' end
    {%- endfor %}
    ) as orphan_columns,
    {% for relationship in per_row -%}
    cast(orphan_{{ loop.index }} as integer){{ " + " if not loop.last }}
    {%- endfor %} as orphan_keys
from flagged
where
    {%- for relationship in per_row %}
    {{ 'or ' if not loop.first }}orphan_{{ loop.index }}
    {%- endfor %}
{%- endif %}
{%- for relationship in per_value %}
{%- if per_row or not loop.first %}

union all
{%- endif %}

select
    {%- for column in columns %}
    {{ column if column == relationship.column else 'null' }} as {{ column }},
    {%- endfor %}
    '{{ relationship.column }}' as orphan_columns,
    child_rows as orphan_keys
from (
    select
        {{ relationship.column }},
        count(*) as child_rows
    from {{ model }}
    group by {{ relationship.column }}
) as per_value
where {{ rcm.orphan_key('per_value.' ~ relationship.column, relationship) }}
{%- endfor %}
{%- endmacro %}


{#- Whether `key` (a column expression) of the relationship {column, to, field} is an orphan:
    not null and not among the parent's non-null keys. -#}
{% macro orphan_key(key, relationship) -%}
(
    {{ key }} is not null
    and {{ key }} not in (
        select parent.{{ relationship.field }} from {{ relationship.to }} as parent
        where parent.{{ relationship.field }} is not null
    )
)
{%- endmacro %}


{#- The tables of the warehouse with at most few_parent_rows() rows (DuckDB's estimate, exact for
    a table no run has deleted from: enough to choose how to read their children), as
    "database.schema.table" names, in one look-up. Empty when not executing (parsing,
    compiling offline): every key is then probed row by row, as for a view or what is not a
    relation. -#}
{% macro small_tables() -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set found = run_query(
        "select database_name || '.' || schema_name || '.' || table_name from duckdb_tables()"
        ~ " where estimated_size <= " ~ few_parent_rows()) -%}
    {{ return(found.columns[0].values() | list if found is not none else []) }}
{%- endmacro %}


{#- The most rows a parent may have for its children's keys to be checked per distinct value
    (RCM_FEW_PARENT_ROWS; 0 probes every key row by row). -#}
{% macro few_parent_rows() -%}
    {{ return(env_var('RCM_FEW_PARENT_ROWS', '100000') | int) }}
{%- endmacro %}


{#- dbt's relationships test on DuckDB: the child's values `not in` the parent's. DuckDB runs
    that as an anti-join whose hash table holds the parent; dbt's left join from the child
    built it on the child, usually the larger side (fct_ar_snapshots -> fct_claims at scale 10,
    43 M rows against 10 M: 10.2 s as a left join, 6.4 s as `not in`). The parent's nulls are
    left out, as the left join leaves them unmatched: one null in a `not in` list would make
    every comparison unknown and hide every orphan. Other engines keep dbt's own. -#}
{% macro duckdb__test_relationships(model, column_name, to, field) %}
select {{ column_name }} as from_field
from {{ model }}
where {{ rcm.orphan_key(column_name, {'to': to, 'field': field}) }}
{% endmacro %}
