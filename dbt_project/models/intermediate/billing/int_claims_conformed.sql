-- The latest version of every claim that passes the quarantine rules.
with

claim_versions as (
    select * from {{ ref('int_claim_versions_unioned') }}
    where failed_rules is null
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
        {{ column_list(cdm_claim_version_columns(), excluding=['is_latest_version']) }}
    from ranked
    where version_rank = 1
)

select * from final
