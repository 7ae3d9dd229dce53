-- Rows of int_patients_unioned that fail at least one quarantine rule, with the rules they fail.
with

patients as (
    select * from {{ ref('int_patients_unioned') }}
),

final as (
    select
        {{ column_list(cdm_patient_columns()) }},
        failed_rules
    from patients
    where failed_rules is not null
)

select * from final
