-- Rows of int_transactions_unioned that fail at least one quarantine rule, with the rules they fail.
with

transactions as (
    select * from {{ ref('int_transactions_unioned') }}
),

final as (
    select
        transaction_id,
        source_transaction_id,
        encounter_id,
        source_encounter_id,
        patient_id,
        source_patient_id,
        provider_id,
        source_provider_id,
        department_id,
        source_department_id,
        claim_id,
        payer_id,
        medicaid_id,
        medicare_id,
        procedure_code,
        icd_code,
        visit_type,
        amount_type,
        line_of_business,
        charge_amount,
        paid_amount,
        visit_date,
        service_date,
        paid_date,
        inserted_at,
        modified_at,
        has_known_cpt_code,
        has_known_icd_code,
        source_system,
        source_name,
        load_id,
        ingested_at,
        failed_rules
    from transactions
    where failed_rules is not null
)

select * from final
