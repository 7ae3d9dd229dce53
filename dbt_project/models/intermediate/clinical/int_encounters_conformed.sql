-- Rows of int_encounters_unioned that pass every quarantine rule.
with

encounters as (
    select * from {{ ref('int_encounters_unioned') }}
),

final as (
    select
        encounter_id,
        source_encounter_id,
        patient_id,
        provider_id,
        department_id,
        procedure_code,
        encounter_type,
        encounter_date,
        inserted_at,
        modified_at,
        has_known_cpt_code,
        source_system,
        source_name,
        load_id,
        ingested_at
    from encounters
    where failed_rules is null
)

select * from final
