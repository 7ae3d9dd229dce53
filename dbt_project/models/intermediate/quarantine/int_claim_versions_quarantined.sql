-- Claim versions of int_claim_versions_unioned that fail at least one quarantine rule.
with

claim_versions as (
    select * from {{ ref('int_claim_versions_unioned') }}
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
        is_latest_version,
        source_system,
        source_name,
        source_row,
        load_id,
        ingested_at,
        failed_rules
    from claim_versions
    where failed_rules is not null
)

select * from final
