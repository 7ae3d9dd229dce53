{{
    config(
        materialized='incremental',
        incremental_strategy=replace_scope_strategy(),
        replace_scope_macro='quarantined_claim_versions_scope',
        on_schema_change='fail'
    )
}}

-- Claim versions of int_claim_versions_unioned that fail at least one quarantine rule.
--
-- A line without a claim id has no key for a later landing to replace, so a re-landed month
-- (or a line repeated in its file) brings it to staging again. The same line is one line here,
-- kept from its first landing: lines are the same when every column but the lineage columns
-- is (claim_line_columns). Done here, where the failing rows are few: matching them in claims
-- staging made the slowest model of the build slower. The reconciliation test counts the
-- repeats.
--
-- Incremental (strategy replace_scope, macro quarantined_claim_versions_scope): a run replaces
-- every row of the claims whose versions were processed since its last run (staging rewrites
-- every version of a claim that changed, so a replayed version that now passes leaves) with
-- their failing versions, and the kept landing of each line without a claim id that landed
-- again with the first of all its landings (a load published late can hold an earlier one).
{%- set line_columns = claim_line_columns() %}
with

-- the failing versions of the claims processed since the last run, and every landing of the
-- lines without a claim id that landed since then (a full build: all of them, in one scan; an
-- incremental run: two selects, whose filters reach the staging scans, where one `or` of them
-- would read every version)
claim_versions as (
    select * from {{ ref('int_claim_versions_unioned') }}
    where
        {{ rules_filter(claim_quarantine_rules(), fails=true) }}
        and {{ 'source_claim_id is not null and ' ~ processed_since_last_run()
            if is_incremental() else '1 = 1' }}
    {%- if is_incremental() %}
        union all
        select * from {{ ref('int_claim_versions_unioned') }}
        where
            source_claim_id is null
            and {{ claim_line_fingerprint() }} in ({{ processed_claim_lines(this) }})
    {%- endif %}
),

-- the landings of each line ranked, the first landing first (a line with a claim id is one
-- landing: staging keeps one row per version)
ranked as (
    select
        *,
        row_number() over (
            partition by {{ line_columns | join(', ') }}
            order by load_id, source_name, source_row
        ) as landing
    from claim_versions
),

first_landings as (
    select {{ column_list(cdm_claim_version_columns() + ['failed_rules']) }}
    from ranked
    where source_claim_id is not null or landing = 1
),

final as (
    select
        {{ column_list(cdm_claim_version_columns()) }},
        failed_rules,
        {{ processed_at() }} as processed_at
    from first_landings
)

select * from final
