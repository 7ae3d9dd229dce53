{{
    config(
        materialized='incremental',
        unique_key='claim_id',
        incremental_strategy=replace_keys_strategy(),
        on_schema_change='fail'
    )
}}

-- The latest version of every claim that passes the quarantine rules.
-- Incremental: the claims whose versions were processed since the last run are re-derived
-- (int_claim_versions_unioned rewrites every version of a claim that changed).
with

claim_versions as (
    select * from {{ ref('int_claim_versions_unioned') }}
    where failed_rules is null
    {%- if is_incremental() %}
        and {{ processed_since_last_run() }}
    {%- endif %}
),

ranked as (
    select
        claim_versions.*,
        row_number() over (
            partition by claim_versions.claim_id
            order by claim_versions.modified_at desc, claim_versions.load_id desc
        ) as version_rank
    from claim_versions
),

final as (
    select
        {{ column_list(cdm_claim_version_columns(), excluding=['is_latest_version']) }},
        {{ processed_at() }} as processed_at
    from ranked
    where version_rank = 1
)

select * from final
