{{ config(materialized='view') }}

-- Rows of int_patients_unioned that pass every quarantine rule: a view over the incremental
-- int_patients_unioned, whose processed_at it passes on (snap_patients reads the patients
-- processed since it last took a version).
with

patients as (
    select * from {{ view_relation(ref('int_patients_unioned')) }}
),

final as (
    select
        {{ column_list(cdm_patient_columns()) }},
        processed_at
    from patients
    where failed_rules is null
)

select * from final
