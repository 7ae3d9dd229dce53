{#- fct_ar_snapshots, incremental: the first month end a run rewrites. That is the latest one
    the model holds while it is partial (taken as of a date before the month end). Once every
    row of it is as of the month end itself, it cannot change except through its claims, which
    rederived_claims_scope rewrites: the run starts after it (a day after it, as a date). On its
    first build, every month. `relation`: the model's table.

    Without that, the first run in a new month would rewrite the whole month end before it:
    at scale 10, 3.15 M rows that cannot have changed. -#}
{% macro ar_snapshot_replaced_from(relation=none) -%}
    {%- set held = relation or this %}
    (
        select coalesce(
            case
                when min(latest.as_of_date) >= max(latest.month_end_date)
                    then cast({{ dbt.dateadd('day', 1, 'max(latest.month_end_date)') }} as date)
                else max(latest.month_end_date)
            end,
            cast('1900-01-01' as date)
        )
        from {{ held }} as latest
        where latest.month_end_date = (
            select max(previous.month_end_date) from {{ held }} as previous
        )
    )
{%- endmacro %}


{#- fct_ar_snapshots, incremental: whether this run may carry the rows of the claims fct_claims
    did not re-derive forward from the latest month end held. Those rows are as of a date A
    (the month end, or the as-of date while the month is partial). A claim is as it was at A
    unless it has a version known after A; such a version processed by this build's upstream
    re-derives its claim in fct_claims. One processed by an earlier build (there can be one
    only if the earlier as-of date left no open claim after the month end held) would be lost:
    then every claim is computed instead. One look-up (status history versions known after A,
    processed before the model's last run; none in a daily build). var ar_carry_forward false
    computes every claim always (a unit test compares both forms). An offline compile (var
    offline_compile) has no warehouse, and a unit test's `this` is its fixture's name, not a
    table: both get the carrying form. -#}
{% macro ar_snapshot_carries_forward() -%}
    {%- if not var('ar_carry_forward', true) -%}
        {{ return(false) }}
    {%- endif -%}
    {%- if not execute or var('offline_compile', false) or this is string -%}
        {{ return(true) }}
    {%- endif -%}
    {#- a case, not a boolean column: T-SQL selects no boolean expression -#}
    {%- set check -%}
        select case when held.as_of_date is null then 0 when exists (
            select 1 from {{ ref('int_claim_status_history') }} as version
            where
                cast(version.valid_from as date) > held.as_of_date
                and version.processed_at <= held.processed_at
        ) then 0 else 1 end
        from (
            select min(latest.as_of_date) as as_of_date, max(latest.processed_at) as processed_at
            from {{ this }} as latest
            where latest.month_end_date = (
                select max(previous.month_end_date) from {{ this }} as previous
            )
        ) as held
    {%- endset -%}
    {%- set found = run_query(check) -%}
    {{ return(found is not none and found.rows | length > 0 and found.rows[0][0] == 1) }}
{%- endmacro %}


{#- The rows of fct_ar_snapshots that a run replaces (strategy replace_scope): month ends from
    ar_snapshot_replaced_from (the latest one held, unless complete), and every month end of
    the claims re-derived since the model's last run (rederived_claims_scope). The model
    computes this slice; a claim that left fct_claims has no new rows. -#}
{% macro ar_snapshot_replaced_scope(relation) -%}
    month_end_date >= {{ ar_snapshot_replaced_from(relation) }}
    or {{ rederived_claims_scope(relation) }}
{%- endmacro %}


{#- The rows of a claim_key-grained mart over fct_claims (fct_ar_snapshots,
    int_claim_kpi_outcomes) that a run replaces: those of the claims fct_claims re-derived
    since the model's last run, and those of the claims processed upstream since then that
    are no longer in fct_claims (every version now quarantined): their old rows must go
    although nothing replaces them. A claim still in fct_claims is replaced only once
    fct_claims has re-derived it, so a run selected without fct_claims removes nothing that
    fct_claims still holds. -#}
{% macro rederived_claims_scope(relation) -%}
    (
        claim_key in (
            select changed.claim_key from {{ ref('fct_claims') }} as changed
            where {{ processed_since_last_run('changed.processed_at', relation) }}
        )
        or claim_key in (
            select {{ surrogate_key(['processed.claim_id']) }}
            from {{ ref('int_claim_versions_unioned') }} as processed
            where
                {{ processed_since_last_run('processed.processed_at', relation) }}
                and not exists (
                    select 1 from {{ ref('fct_claims') }} as present
                    where present.claim_key = {{ surrogate_key(['processed.claim_id']) }}
                )
        )
    )
{%- endmacro %}
