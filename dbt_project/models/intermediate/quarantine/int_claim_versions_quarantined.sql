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
--
-- A line without a claim id has no key for a later landing to replace, so a re-landed month
-- (or a line repeated in its file) brings it to staging again. The same line is one line here,
-- kept from its first landing: lines are the same when every column but the lineage columns
-- is. Done here, where the failing rows are few: matching them in claims staging made the
-- slowest model of the build slower. The reconciliation test counts the repeats.
{%- set line_columns = claim_line_columns() %}
with

claim_versions as (
    select * from {{ ref('int_claim_versions_unioned') }}
    where
        {{ rules_filter(claim_quarantine_rules(), fails=true) }}
        and {{ processed_since_last_run() if is_incremental() else '1 = 1' }}
),

keyless_landings as (
    select
        *,
        row_number() over (
            partition by {{ line_columns | join(', ') }}
            order by load_id, source_name, source_row
        ) as landing
    from claim_versions
    where claim_id is null
),

first_landings as (
    select {{ column_list(cdm_claim_version_columns() + ['failed_rules']) }}
    from claim_versions
    where claim_id is not null
    union all
    select {{ column_list(cdm_claim_version_columns() + ['failed_rules']) }}
    from keyless_landings
    where landing = 1
    {%- if is_incremental() %}
        -- not a line an earlier run kept
        and not exists (
            select 1 from {{ this }} as kept
            where
                kept.claim_id is null
                {%- for column in line_columns %}
                    and (
                        kept.{{ column }} = keyless_landings.{{ column }}
                        or (kept.{{ column }} is null and keyless_landings.{{ column }} is null)
                    )
                {%- endfor %}
        )
    {%- endif %}
),

final as (
    select
        {{ column_list(cdm_claim_version_columns()) }},
        failed_rules,
        {{ processed_at() }} as processed_at
    from first_landings
)

select * from final
