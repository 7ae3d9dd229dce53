-- Rows of int_patients_unioned that pass every quarantine rule.
with

patients as (
    select * from {{ ref('int_patients_unioned') }}
),

final as (
    select
        {{ column_list(cdm_patient_columns()) }},
        -- the snapshot keeps the value of the run that first saw a version: facts re-read the
        -- patients with a version newer than their last run
        {{ processed_at() }} as processed_at
    from patients
    where failed_rules is null
)

select * from final
