-- Rows of int_encounters_unioned that pass every quarantine rule.
with

encounters as (
    select * from {{ ref('int_encounters_unioned') }}
),

final as (
    select
        {{ column_list(cdm_encounter_columns()) }}
    from encounters
    where failed_rules is null
)

select * from final
