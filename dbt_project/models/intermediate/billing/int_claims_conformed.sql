-- The latest version of every claim that passes the quarantine rules.
with

claim_versions as (
    select * from {{ ref('int_claim_versions_unioned') }}
    where failed_rules is null
),

ranked as (
    select
        claim_versions.*,
        row_number() over (
            partition by claim_versions.claim_id
            order by claim_versions.modified_at desc, claim_versions.load_id desc
        ) as version_rank
    from claim_versions
),

final as (
    select
        claim_id,
        source_claim_id,
        transaction_id,
        source_transaction_id,
        patient_id,
        source_patient_id,
        encounter_id,
        provider_id,
        department_id,
        payer_name,
        payer_type,
        claim_status,
        denial_reason_code,
        claim_amount,
        allowed_amount,
        paid_amount,
        deductible_amount,
        coinsurance_amount,
        copay_amount,
        patient_responsibility_amount,
        service_date,
        claim_date,
        inserted_at,
        modified_at,
        source_system,
        source_name,
        source_row,
        load_id,
        ingested_at
    from ranked
    where version_rank = 1
)

select * from final
