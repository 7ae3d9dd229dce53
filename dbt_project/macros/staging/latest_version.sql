{#
    The two steps every EMR staging model shares, written once; the stage_<entity> macros
    supply what differs (which Bronze columns, renamed how; which version wins).
#}

{#- The `source` step of an EMR staging model: the Bronze rows to stage. A full build reads
    every load; an incremental run (a model whose config is incremental) only the loads it has
    not read yet (from_unread_loads). `source_relation`: the model's source() call. -#}
{% macro bronze_rows_to_stage(source_relation) -%}
    select * from {{ source_relation }}
    {%- if is_incremental() %}
        where {{ from_unread_loads(source_relation) }}
    {%- endif %}
{%- endmacro %}


{#- The steps after `renamed` in an EMR staging model with one row per key, ending with the
    CTE `final` (the caller selects from it):
    - candidates: the renamed rows and, in an incremental run, the rows already staged for the
      same keys, so that the ranking picks the latest version as a full build would;
    - deduplicated: each key's rows ranked by `order_by` (column names of `renamed`, each with
      its direction), the latest version first;
    - final: `columns` (the staged columns of `renamed`, in order) of each key's latest version,
      and of every row without a key (the CDM quarantines those), then processed_at when
      `with_processed_at` (the incremental models, whose readers pick the rows of a run by it).
-#}
{% macro latest_version_per_key(key_column, columns, order_by, with_processed_at=true) -%}
-- the new rows, with (incremental runs) the row already staged for the same keys
candidates as (
    {{ with_staged_rows_of_same_keys('renamed', key_column, columns) }}
),

-- Latest version per {{ key_column }}: ranked by {{ order_by | join(", ") }}.
deduplicated as (
    select
        candidates.*,
        row_number() over (
            partition by candidates.{{ key_column }}
            order by
            {%- for column in order_by %}
                candidates.{{ column }}{{ "," if not loop.last }}
            {%- endfor %}
        ) as version_rank
    from candidates
),

final as (
    select
        {{ column_list(columns) }}
        {%- if with_processed_at %},
        {{ processed_at() }} as processed_at
        {%- endif %}
    from deduplicated
    where version_rank = 1 or {{ key_column }} is null
)
{%- endmacro %}
