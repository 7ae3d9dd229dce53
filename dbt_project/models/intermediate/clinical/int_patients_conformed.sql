-- Rows of int_patients_unioned that pass every quarantine rule.
with

patients as (
    select * from {{ ref('int_patients_unioned') }}
),

final as (
    select
        patient_id,
        source_patient_id,
        first_name,
        last_name,
        middle_name,
        ssn,
        phone_number,
        address,
        birth_date,
        gender,
        birth_year,
        modified_at,
        source_system,
        source_name,
        load_id,
        ingested_at
    from patients
    where failed_rules is null
)

select * from final
