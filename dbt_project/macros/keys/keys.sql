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


{#- A dimension key for a foreign key: the hashed key when the referenced row exists, else the
    unknown member. `exists_column` is a column of the joined dimension (null when no match). -#}
{% macro dimension_key(natural_columns, exists_column) -%}
    case
        when {{ exists_column }} is null then {{ unknown_key() }}
        else {{ surrogate_key(natural_columns) }}
    end
{%- endmacro %}
