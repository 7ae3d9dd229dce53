-- Rows of int_patients_unioned that fail at least one quarantine rule, with the rules they fail.
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
        ingested_at,
        failed_rules
    from patients
    where failed_rules is not null
)

select * from final
