{#- The claims whose fct_claims row a run replaces (strategy replace_scope), as a predicate
    on claim_id: those int_claims_conformed wrote since the model's last run, those processed
    upstream since then (every version of a claim that changed is; the claim may have left
    int_claims_conformed), those of patients with a version first seen since then, those
    whose transaction was processed since then, those that point at an unknown provider,
    department or payer (a late-arriving dimension row), and those that point at an unknown
    patient that dim_patient now holds (its version's processed_at can be older than the
    model's last run: a snapshot taken in a later dbt invocation). Re-reading every claim of
    an unknown patient on every run rewrote 100,000 claims a day at scale 10 (patients
    quarantined in the source), and their rows in the marts downstream. The model derives
    exactly the claims of int_claims_conformed in this set. `relation`: the model's
    table. -#}
{% macro fct_claims_rederived_scope(relation) -%}
    {#- one IN over the union of the id sets, not an OR of four INs: DuckDB then filters the
        table by one semi-join and pushes the ids into its scan (with the OR it probed every
        row of int_claims_conformed four times; the scale-10 day's select, run alone, took
        4.2-4.6 s before, 2.4-3.5 s with the union and the status history read once) -#}
    claim_id in (
        select processed.claim_id from {{ ref('int_claim_versions_unioned') }} as processed
        where {{ processed_since_last_run('processed.processed_at', relation) }}
        union all
        select late.claim_id from {{ ref('int_claims_conformed') }} as late
        where
            {{ processed_since_last_run('late.processed_at', relation) }}
            or late.patient_id in (
                select changed_patients.patient_id
                from {{ ref('dim_patient') }} as changed_patients
                where {{ processed_since_last_run('changed_patients.processed_at', relation) }}
            )
            or late.transaction_id in (
                select changed_transactions.transaction_id
                from {{ ref('int_transactions_conformed') }} as changed_transactions
                where
                    {{ processed_since_last_run('changed_transactions.processed_at', relation) }}
            )
        union all
        select unknown_members.claim_id from {{ relation }} as unknown_members
        where {{ points_at_unknown_member('unknown_members', [
            'provider_key', 'department_key', 'payer_key',
        ]) }}
        union all
        {{ rows_at_a_member_now_known(relation, ref('int_claims_conformed'), 'claim_id', [
            ('patient_key', 'patient_id', 'dim_patient', 'patient_id'),
        ]) }}
    )
{%- endmacro %}


{#- The fct_claims rows a run replaces, for its delete: the claims of the run's new rows
    (`new_rows`), and the claims processed upstream since the model's last run, which covers
    those that left int_claims_conformed. It selects the same rows as fct_claims_rederived_scope:
    a claim of that scope that is still in int_claims_conformed is a new row, and a claim
    leaves int_claims_conformed only with a new version, processed upstream. The scope's
    other parts (claims of changed patients and transactions, of unknown members) need every
    claim scanned three more times: at scale 10 the delete took 1.4 s alone with them, 0.24 s
    this way. -#}
{% macro fct_claims_replaced_rows(relation, new_rows) -%}
    claim_id in (
        select new_rows.claim_id from {{ new_rows }} as new_rows
        union all
        select processed.claim_id from {{ ref('int_claim_versions_unioned') }} as processed
        where {{ processed_since_last_run('processed.processed_at', relation) }}
    )
{%- endmacro %}
