{{
    config(
        materialized='incremental',
        unique_key='encounter_id',
        incremental_strategy=replace_keys_strategy(),
        on_schema_change='fail',
        post_hook="{{ delete_quarantined_this_run(ref('int_encounters_unioned'), 'encounter_id') }}"
    )
}}

-- Rows of int_encounters_unioned that pass every quarantine rule.
-- Incremental: the rows processed upstream since the last run replace theirs; an encounter
-- whose latest version was quarantined in this run leaves (the post-hook).
with

encounters as (
    select * from {{ ref('int_encounters_unioned') }}
    {%- if is_incremental() %}
        where {{ processed_since_last_run() }}
    {%- endif %}
),

final as (
    select
        {{ column_list(cdm_encounter_columns()) }},
        {{ processed_at() }} as processed_at
    from encounters
    where failed_rules is null
)

select * from final
