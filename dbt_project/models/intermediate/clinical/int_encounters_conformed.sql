{{ config(materialized='view') }}

-- Encounters of int_encounters_unioned that pass every quarantine rule (an encounter id).
-- A view, not a copy: only the data quality summary and the reconciliation test read it.
-- processed_at is int_encounters_unioned's.
with

encounters as (
    select * from {{ view_relation(ref('int_encounters_unioned')) }}
),

final as (
    select
        {{ column_list(cdm_encounter_columns()) }},
        processed_at
    from encounters
    where failed_rules is null
)

select * from final
