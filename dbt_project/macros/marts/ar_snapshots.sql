{#- fct_ar_snapshots, incremental: the first month end a run rewrites (the latest one the model
    holds; every month on its first build). `relation`: the model's table. -#}
{% macro ar_snapshot_replaced_from(relation=none) -%}
    (
        select coalesce(max(previous.month_end_date), cast('1900-01-01' as date))
        from {{ relation or this }} as previous
    )
{%- endmacro %}


{#- The rows of fct_ar_snapshots that a run replaces (strategy replace_scope): month ends from
    the latest one held, and every month end of the claims re-derived in fct_claims since the
    model's last run. The model computes exactly this slice. -#}
{% macro ar_snapshot_replaced_scope(relation) -%}
    month_end_date >= {{ ar_snapshot_replaced_from(relation) }}
    or claim_key in (
        select changed.claim_key from {{ ref('fct_claims') }} as changed
        where {{ processed_since_last_run('changed.processed_at', relation) }}
    )
{%- endmacro %}
