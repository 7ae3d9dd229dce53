{#-
    Daily builds test the rows they wrote.

    Under `rcm build` on top of a recorded successful build of the same project (the build that
    also checks only the new Bronze loads: reconcile_loads() is a list), the generic tests below
    read only the rows of the latest run (the newest processed_at) of an incremental model, or
    of a view over incremental models:

    - row tests (not_null, not_null_columns, accepted_values, accepted_values_columns,
      expression_is_true, matches_regex, value_in_range, value_in_range_columns,
      valid_npi_check_digit): a row that no run has rewritten since passed them in the build
      that wrote it, and the project has not changed since;
    - unique and unique_combination_of_columns: the rows that share the key (the first column of
      a combination) with a row of the latest run; with latest_run_only, the rows that share the
      whole combination with one (generic_tests.sql). Every duplicate that involves a row the
      latest run wrote is still found.

    Not scoped: relationships and relationships_columns (a parent can go away under a child that
    stays), singular tests, tests of tables (a table is rewritten whole: every row is of the
    latest run), tests of severity warn or with a warn_if / error_if threshold (they judge a
    count over all rows, and would go quiet about rows that still fail) and every test under a
    plain `dbt build`, `rcm build --force` or after any project change (RCM_RECONCILE_LOADS
    unset or "all").

    dbt wraps the `model` argument of every generic test in get_where_subquery (it applies the
    test's `where` config); this project's version adds the scope.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set tested = adapter.dispatch('get_where_subquery', 'dbt')(relation) -%}
    {%- set predicate = changed_rows_predicate(relation) -%}
    {%- if predicate is none -%}
        {{ return(tested) }}
    {%- endif -%}
    {%- set scoped -%}
        (select * from {{ tested }} where {{ predicate }}) as changed_rows
    {%- endset -%}
    {{ return(scoped) }}
{%- endmacro %}


{#- The tests whose verdict on a row depends on that row alone. -#}
{% macro changed_rows_row_tests() -%}
    {{ return([
        'not_null', 'not_null_columns', 'accepted_values', 'accepted_values_columns',
        'expression_is_true', 'matches_regex', 'value_in_range', 'value_in_range_columns',
        'valid_npi_check_digit',
    ]) }}
{%- endmacro %}


{#- The filter that scopes the current test to the latest run's rows (see above), or none. -#}
{% macro changed_rows_predicate(relation) -%}
    {%- if not execute or reconcile_loads() is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set metadata = model.get('test_metadata') or {} -%}
    {%- set test_name = metadata.get('name') -%}
    {%- set arguments = metadata.get('kwargs') or {} -%}
    {%- set tested_node = graph.nodes.get(model.get('attached_node') or '') -%}
    {%- if tested_node is none
        or tested_node.config.materialized not in ('incremental', 'view')
        or 'processed_at' not in tested_node.columns
        or (config.get('severity') or 'error') | lower == 'warn'
        or not changed_rows_default_threshold(config.get('warn_if'))
        or not changed_rows_default_threshold(config.get('error_if')) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if test_name in changed_rows_row_tests() -%}
        {{ return(of_latest_run(relation)) }}
    {%- elif test_name == 'unique' -%}
        {%- set key = arguments.get('column_name') -%}
    {%- elif test_name == 'unique_combination_of_columns' and not arguments.get('latest_run_only') -%}
        {%- set key = (arguments.get('combination_of_columns') or [none])[0] -%}
    {%- else -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if not key -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set sharing_a_key -%}
        {{ key }} in (
            select latest_rows.{{ key }} from {{ relation }} as latest_rows
            where {{ of_latest_run(relation, 'latest_rows.') }}
        )
    {%- endset -%}
    {{ return(sharing_a_key) }}
{%- endmacro %}


{#- A test with a threshold (warn_if '>0', error_if '>100') judges a count over all rows. -#}
{% macro changed_rows_default_threshold(threshold) -%}
    {{ return(threshold is none or (threshold | string | replace(' ', '')) == '!=0') }}
{%- endmacro %}


{#- A row of the latest run of `relation`: its processed_at is the newest. -#}
{% macro of_latest_run(relation, prefix='') -%}
    {{ prefix }}processed_at = (select max(latest_run.processed_at) from {{ relation }} as latest_run)
{%- endmacro %}
