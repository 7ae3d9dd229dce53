{#- int_encounter_first_lines, incremental: the encounters a run re-derives. Those with a line
    that fct_transactions rewrote since the model's last run (new, changed, re-keyed to a
    late-arriving dimension row), and those whose first line is a transaction reprocessed
    upstream since then: it may have moved to another encounter, or left fct_transactions as
    quarantined. `relation`: the model's table. -#}
{% macro encounter_first_lines_changed(relation) -%}
    select changed_lines.encounter_id
    from {{ ref('fct_transactions') }} as changed_lines
    where {{ processed_since_last_run('changed_lines.processed_at', relation) }}
    union
    select moved.encounter_id
    from {{ relation }} as moved
    where moved.transaction_id in (
        select reprocessed.transaction_id
        from {{ ref('int_transactions_unioned') }} as reprocessed
        where {{ processed_since_last_run('reprocessed.processed_at', relation) }}
    )
{%- endmacro %}


{#- The rows of int_encounter_first_lines that a run replaces (strategy replace_scope): every
    row of the encounters it re-derives, so an encounter left with no line leaves. -#}
{% macro encounter_first_lines_replaced_scope(relation) -%}
    encounter_id in ({{ encounter_first_lines_changed(relation) }})
{%- endmacro %}
