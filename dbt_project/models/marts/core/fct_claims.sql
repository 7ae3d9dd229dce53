{{
    config(
        materialized='incremental',
        uncompressed_columns=['claim_id', 'transaction_id', 'encounter_id'],
        incremental_strategy=replace_scope_strategy(),
        replace_scope_macro='fct_claims_rederived_scope',
        replace_scope_delete_macro='fct_claims_replaced_rows',
        on_schema_change='append_new_columns'
    )
}}
{{ require_integer_keys(['claim_key']) }}

-- One row per claim (its latest clean version), with its first-submission outcome from the
-- status history, amounts and days to payment.
--
-- Incremental (strategy replace_scope, macro fct_claims_rederived_scope): a run replaces the
-- rows of the claims
--   1. processed upstream since its last run (a new version, new or changed);
--   2. of patients with a patient version first seen since then (as-of patient key);
--   3. whose transaction was processed since then (the payer comes from the transaction);
--   4. that point at an unknown provider, department or payer (a late-arriving dimension
--      row), or at an unknown patient that dim_patient now holds.
-- A claim of the first kind that left int_claims_conformed (every version now quarantined)
-- loses its row. The delete names the same rows more cheaply (macro fct_claims_replaced_rows).
-- depends_on: {{ ref('int_claim_versions_unioned') }}
{#- The status history of the claims this run derives, for its two readers (first responses,
    history summary). In an incremental run both read changed_status_history, which DuckDB
    computes once (a CTE read twice is materialized: a few hundred thousand versions at scale
    10; an engine that inlines CTEs reads the table twice, as before). A full build has them
    read the table each: a shared CTE would be materialized first, every version (27 M rows
    at scale 10). -#}
{%- set status_history = 'changed_status_history' if is_incremental()
    else ref('int_claim_status_history') %}
with

claims as (
    select * from {{ ref('int_claims_conformed') }}
    {%- if is_incremental() %}
        where {{ fct_claims_rederived_scope(this) }}
    {%- endif %}
),

status_outcomes as (
    select * from {{ ref('claim_status_outcomes') }}
),

transactions as (
    select transaction_id, payer_id from {{ ref('int_transactions_conformed') }}
    {%- if is_incremental() %}
        where transaction_id in (select claims.transaction_id from claims)
    {%- endif %}
),

patients as (
    select * from {{ ref('dim_patient') }}
),

providers as (
    select * from {{ ref('dim_provider') }}
),

departments as (
    select * from {{ ref('dim_department') }}
),

payers as (
    select * from {{ ref('dim_payer') }}
),
{%- if is_incremental() %}

changed_status_history as (
    select claim_id, version_number, claim_status, kpi_outcome, valid_from
    from {{ ref('int_claim_status_history') }}
    where claim_id in (select changed_claims.claim_id from claims as changed_claims)
),
{%- endif %}

-- First submission: the first response of the payer (the first version that is no longer
-- Pending); a claim still pending has no outcome yet.
first_responses as (
    select
        claim_id,
        claim_status as first_response_status,
        kpi_outcome as first_submission_outcome
    from (
        select
            claim_id,
            claim_status,
            kpi_outcome,
            row_number() over (partition by claim_id order by version_number) as response_rank
        from {{ status_history }}
        where kpi_outcome <> 'pending'
    ) as responses
    where response_rank = 1
),

history_summary as (
    select
        claim_id,
        count(*) as status_version_count,
        min(case when claim_status = 'Paid' then valid_from end) as first_paid_at,
        max(case when kpi_outcome = 'denied' then 1 else 0 end) as was_ever_denied,
        max(case when kpi_outcome = 'rejected' then 1 else 0 end) as was_ever_rejected
    from {{ status_history }}
    group by claim_id
),

-- Claims name their payer; map the name to the payer code when the claim's transaction is
-- not there to give it.
payer_names as (
    select payer_name, min(payer_key) as payer_key
    from payers
    where payer_name is not null
    group by payer_name
),

final as (
    select
        -- keys
        {{ surrogate_key(['claims.claim_id']) }} as claim_key,
        claims.claim_id,
        claims.transaction_id,
        claims.encounter_id,
        coalesce(patients.patient_key, {{ unknown_key() }}) as patient_key,
        coalesce(providers.provider_key, {{ unknown_key() }}) as provider_key,
        coalesce(departments.department_key, {{ unknown_key() }}) as department_key,
        coalesce(payers.payer_key, payer_names.payer_key, {{ unknown_key() }}) as payer_key,
        {{ date_key('claims.service_date') }} as service_date_key,
        {{ date_key('claims.claim_date') }} as claim_date_key,
        -- status
        claims.claim_status as current_claim_status,
        status_outcomes.kpi_outcome as current_outcome,
        coalesce(first_responses.first_submission_outcome, 'pending') as first_submission_outcome,
        first_responses.first_response_status,
        -- clean as the clean claim rate counts it (int_claim_kpi_outcomes): accepted at the
        -- first response, and never rejected or denied after
        case
            when
                first_responses.first_submission_outcome = 'accepted'
                and history_summary.was_ever_denied = 0
                and history_summary.was_ever_rejected = 0
                then {{ bool_true() }}
            else {{ bool_false() }}
        end as is_clean_claim,
        case
            when history_summary.was_ever_denied = 1 then {{ bool_true() }}
            else {{ bool_false() }}
        end as was_ever_denied,
        claims.denial_reason_code,
        claims.payer_name,
        claims.payer_type,
        -- amounts
        claims.claim_amount,
        claims.allowed_amount,
        claims.paid_amount,
        claims.patient_responsibility_amount,
        -- dates
        claims.service_date,
        claims.claim_date,
        cast(history_summary.first_paid_at as date) as first_paid_date,
        {{ dbt.datediff('claims.claim_date', 'cast(history_summary.first_paid_at as date)', 'day') }}
            as days_to_payment,
        history_summary.status_version_count,
        -- lineage
        claims.source_system,
        claims.source_name,
        claims.modified_at,
        claims.load_id,
        claims.ingested_at,
        {{ processed_at() }} as processed_at
    from claims
    left join status_outcomes on claims.claim_status = status_outcomes.claim_status
    left join first_responses on claims.claim_id = first_responses.claim_id
    left join history_summary on claims.claim_id = history_summary.claim_id
    left join transactions on claims.transaction_id = transactions.transaction_id
    left join patients
        on
            claims.patient_id = patients.patient_id
            and {{ patient_version_on('patients', 'claims.service_date') }}
    left join providers on claims.provider_id = providers.provider_id
    left join departments on claims.department_id = departments.department_id
    left join payers on transactions.payer_id = payers.payer_id
    left join payer_names on claims.payer_name = payer_names.payer_name
)

select * from final
