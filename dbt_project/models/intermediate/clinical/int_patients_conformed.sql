-- Rows of int_patients_unioned that pass every quarantine rule.
with

patients as (
    select * from {{ ref('int_patients_unioned') }}
),

final as (
    select
        {{ column_list(cdm_patient_columns()) }}
    from patients
    where failed_rules is null
)

select * from final
