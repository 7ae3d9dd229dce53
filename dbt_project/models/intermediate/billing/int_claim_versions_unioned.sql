{{ config(materialized='view') }}

-- A view: every reader filters it (latest versions, the versions processed since its own last
-- run, the quarantined ones), and the filters reach the staging tables, so the 2.7 M versions
-- (27 M at scale 10) are not copied once more. processed_at is staging's: when staging last
-- rewrote the claim's versions.
with

hospital_a as (
    select * from {{ view_relation(ref('stg_hospital_a__claims')) }}
),

hospital_b as (
    select * from {{ view_relation(ref('stg_hospital_b__claims')) }}
),

unioned as (
    {%- for relation in ['hospital_a', 'hospital_b'] %}
        select
            claim_id, transaction_id, patient_id, encounter_id, provider_id, department_id,
            payer_name, payer_type, claim_status, denial_reason_code, claim_amount, allowed_amount,
            paid_amount, deductible_amount, coinsurance_amount, copay_amount, service_date,
            claim_date, inserted_at, modified_at, is_latest_version, source_system, source_name,
            source_row, load_id, ingested_at, processed_at
        from {{ relation }}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

conformed as (
    select
        -- ids (source-qualified)
        {{ qualified_id('source_system', 'claim_id') }} as claim_id,
        claim_id as source_claim_id,
        {{ qualified_id('source_system', 'transaction_id') }} as transaction_id,
        transaction_id as source_transaction_id,
        {{ qualified_id('source_system', 'patient_id') }} as patient_id,
        patient_id as source_patient_id,
        {{ qualified_id('source_system', 'encounter_id') }} as encounter_id,
        {{ qualified_id('source_system', 'provider_id') }} as provider_id,
        {{ qualified_id('source_system', 'department_id') }} as department_id,
        -- attributes
        payer_name,
        payer_type,
        claim_status,
        denial_reason_code,
        -- amounts
        claim_amount,
        allowed_amount,
        paid_amount,
        deductible_amount,
        coinsurance_amount,
        copay_amount,
        coalesce(deductible_amount, 0)
        + coalesce(coinsurance_amount, 0)
        + coalesce(copay_amount, 0) as patient_responsibility_amount,
        -- dates
        service_date,
        claim_date,
        inserted_at,
        modified_at,
        is_latest_version,
        -- lineage
        source_system,
        source_name,
        source_row,
        load_id,
        ingested_at,
        processed_at
    from unioned
),

final as (
    select
        {{ column_list(cdm_claim_version_columns()) }},
        {{ failed_rules(claim_quarantine_rules()) }} as failed_rules,
        processed_at
    from conformed
)

select * from final
