{{
    config(
        materialized='incremental',
        incremental_strategy=replace_scope_strategy(),
        replace_scope_macro='processed_claims_scope',
        on_schema_change='fail'
    )
}}

-- Claim versions of int_claim_versions_unioned that fail at least one quarantine rule.
--
-- Incremental (strategy replace_scope, macro processed_claims_scope): a run
-- replaces every row of the claims whose versions were processed since its last run (staging
-- rewrites every version of a claim that changed, so a replayed version that now passes
-- leaves) with their failing versions; a version without a claim id is added once, by the run
-- after the load that brought it.
with

claim_versions as (
    select * from {{ ref('int_claim_versions_unioned') }}
    where
        {{ rules_filter(claim_quarantine_rules(), fails=true) }}
        and {{ processed_since_last_run() if is_incremental() else '1 = 1' }}
),

final as (
    select
        {{ column_list(cdm_claim_version_columns()) }},
        failed_rules,
        {{ processed_at() }} as processed_at
    from claim_versions
)

select * from final
