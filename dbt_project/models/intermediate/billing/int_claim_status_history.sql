{{
    config(
        materialized='incremental',
        uncompressed_columns=['claim_id'],
        incremental_strategy=replace_scope_strategy(),
        replace_scope_macro='processed_claims_scope',
        on_schema_change='fail'
    )
}}
{{ require_integer_keys(['claim_status_version_id']) }}

-- Incremental (strategy replace_scope, macro processed_claims_scope): every version of the
-- claims processed upstream since the last run is re-sequenced (int_claim_versions_unioned
-- rewrites every version of a claim that changed); a claim whose every version is now
-- quarantined loses its rows.
with

claim_versions as (
    select * from {{ ref('int_claim_versions_unioned') }}
    where {{ rules_filter(claim_quarantine_rules(), fails=false) }}
    {%- if is_incremental() %}
        and {{ processed_since_last_run() }}
    {%- endif %}
),

status_outcomes as (
    select * from {{ ref('claim_status_outcomes') }}
),

sequenced as (
    select
        claim_versions.claim_id,
        claim_versions.claim_status,
        claim_versions.denial_reason_code,
        claim_versions.claim_amount,
        claim_versions.allowed_amount,
        claim_versions.paid_amount,
        claim_versions.patient_responsibility_amount,
        claim_versions.modified_at,
        claim_versions.source_system,
        claim_versions.source_name,
        claim_versions.load_id,
        claim_versions.ingested_at,
        row_number() over (
            partition by claim_versions.claim_id
            order by claim_versions.modified_at, claim_versions.load_id
        ) as version_number,
        lead(claim_versions.modified_at) over (
            partition by claim_versions.claim_id
            order by claim_versions.modified_at, claim_versions.load_id
        ) as next_modified_at,
        lag(claim_versions.claim_status) over (
            partition by claim_versions.claim_id
            order by claim_versions.modified_at, claim_versions.load_id
        ) as previous_claim_status
    from claim_versions
),

final as (
    select
        -- ids
        {{ surrogate_key(['sequenced.claim_id', 'sequenced.version_number']) }} as claim_status_version_id,
        sequenced.claim_id,
        sequenced.version_number,
        -- status
        sequenced.claim_status,
        sequenced.previous_claim_status,
        status_outcomes.kpi_outcome,
        status_outcomes.is_adjudicated,
        case
            when sequenced.previous_claim_status is null then {{ bool_true() }}
            when sequenced.previous_claim_status <> sequenced.claim_status then {{ bool_true() }}
            else {{ bool_false() }}
        end as is_status_change,
        sequenced.denial_reason_code,
        -- amounts at this version
        sequenced.claim_amount,
        sequenced.allowed_amount,
        sequenced.paid_amount,
        sequenced.patient_responsibility_amount,
        -- validity
        sequenced.modified_at as valid_from,
        sequenced.next_modified_at as valid_to,
        case when sequenced.next_modified_at is null then {{ bool_true() }} else {{ bool_false() }} end as is_current,
        -- lineage
        sequenced.source_system,
        sequenced.source_name,
        sequenced.load_id,
        sequenced.ingested_at,
        {{ processed_at() }} as processed_at
    from sequenced
    left join status_outcomes on sequenced.claim_status = status_outcomes.claim_status
)

select * from final
