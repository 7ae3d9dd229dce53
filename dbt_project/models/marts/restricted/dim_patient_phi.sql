-- One row per patient version: the patient's PHI, keyed like dim_patient. Schema `restricted`:
-- grant it only to roles allowed to see PHI.
with

snapshot as (
    select * from {{ ref('snap_patients') }}
),

final as (
    select
        {{ surrogate_key(['patient_id', 'dbt_valid_from']) }} as patient_key,
        patient_id,
        first_name,
        middle_name,
        last_name,
        birth_date,
        ssn,
        phone_number,
        address,
        dbt_valid_from as valid_from,
        dbt_valid_to as valid_to
    from snapshot
)

select * from final
