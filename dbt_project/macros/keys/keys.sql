{#
    Keys, made the same way everywhere.

    qualified_id: a source-qualified natural key, "<source_system>:<id>" (hospital_a:PAT000001).
        Both hospitals use the same id ranges, so every CDM key carries its hospital.
    surrogate_key: a hashed surrogate key over one or more columns (null-safe).
    unknown_key: the key of every dimension's unknown member. Facts point at it when a
        foreign key is null or names a row that does not exist, so they never lose rows to
        an inner join.
#}

{% macro qualified_id(source_system, id_column) -%}
    case
        when {{ id_column }} is null then null
        else {{ dbt.concat([source_system, "':'", id_column]) }}
    end
{%- endmacro %}


{% macro surrogate_key(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append(
            "coalesce(cast(" ~ column ~ " as " ~ dbt.type_string() ~ "), '_null_')"
        ) -%}
        {%- if not loop.last -%}{%- do parts.append("'|'") -%}{%- endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}


{% macro unknown_key() -%}
    '-1'
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
        select * from {{ fact }} as unknown_rows
        where {{ points_at_unknown_member('unknown_rows', dimensions | map('first')) }}
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
