-- Rows of int_encounters_unioned that fail at least one quarantine rule, with the rules they fail.
with

encounters as (
    select * from {{ ref('int_encounters_unioned') }}
),

final as (
    select
        {{ column_list(cdm_encounter_columns()) }},
        failed_rules
    from encounters
    where failed_rules is not null
)

select * from final
