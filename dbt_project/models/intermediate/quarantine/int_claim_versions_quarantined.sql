-- Claim versions of int_claim_versions_unioned that fail at least one quarantine rule.
with

claim_versions as (
    select * from {{ ref('int_claim_versions_unioned') }}
),

final as (
    select
        {{ column_list(cdm_claim_version_columns()) }},
        failed_rules
    from claim_versions
    where {{ rules_filter(claim_quarantine_rules(), fails=true) }}
)

select * from final
