-- One row per claim known by the as-of date: the KPI facts of its life cycle as known then
-- (first response, first adjudication, rejections, denials, payment), with the two cohort
-- months (service month for money, submission month for claim counts). Rules:
-- _finance__docs.md (kpi_cohorts).
--
-- Incremental (strategy replace_scope, macro rederived_claims_scope): the claims re-derived in
-- fct_claims since the last run are re-derived here (their row depends on nothing else while
-- the as-of date is the latest date in the data); a claim that left fct_claims (every version
-- now quarantined) loses its row.
-- Changing var alerts_as_of_date needs `rcm build --full-refresh`.
--
-- Runs after fct_ar_snapshots (depends_on below, not a data dependency): the two are the
-- heaviest models of a full build and, run side by side at scale 10, they exhaust DuckDB's
-- memory limit together although each fits alone (measured again on 2026-12-03: without this
-- and int_encounter_first_lines' ordering, both ran out of memory and the build took 44 s
-- longer after rcm build's one-at-a-time retry; benchmarks/README.md). On DuckDB 2.0
-- (2026-12-04) both fit side by side but took 114 s and 87 s, and the build 458.6 s
-- against 433.5 s with the ordering.
-- depends_on: {{ ref('fct_ar_snapshots') }}
-- depends_on: {{ ref('int_claim_versions_unioned') }}
{{
    config(
        materialized='incremental',
        uncompressed_columns=['claim_id'],
        incremental_strategy=replace_scope_strategy(),
        replace_scope_macro='rederived_claims_scope',
        on_schema_change='fail'
    )
}}
{{ require_integer_keys(['claim_key']) }}

with

as_of as (
    select * from {{ ref('int_reporting_as_of') }}
),

claims as (
    select * from {{ ref('fct_claims') }}
    {%- if is_incremental() %}
        where {{ processed_since_last_run() }}
    {%- endif %}
),

-- In an incremental run, the versions of the changed claims, computed first on DuckDB (macro
-- cte_materialization): left to its planner, DuckDB joined every version to the as-of date and
-- hashed the 27 M rows of scale 10 before keeping the changed claims' (8.5 s of CPU in a day's
-- run alone, 3.5 s this way).
status_history as {% if is_incremental() %}{{ cte_materialization() }} {% endif %}(
    select * from {{ ref('int_claim_status_history') }}
    {%- if is_incremental() %}
        where claim_id in (select changed_claims.claim_id from claims as changed_claims)
    {%- endif %}
),

known_versions as (
    select
        status_history.claim_id,
        status_history.version_number,
        status_history.claim_status,
        status_history.kpi_outcome,
        status_history.denial_reason_code,
        status_history.claim_amount,
        status_history.allowed_amount,
        status_history.paid_amount,
        cast(status_history.valid_from as date) as known_date
    from status_history
    inner join as_of on cast(status_history.valid_from as date) <= as_of.as_of_date
),

-- Per claim: the versions that matter (the latest known; the payer's first response, i.e. the
-- first version no longer pending; the first adjudication, i.e. the first version accepted or
-- denied) and the life-cycle summary, as CTEs version_marks and marked_versions (macro
-- claim_version_marks: aggregates, in one pass on DuckDB).
{{ claim_version_marks('known_versions') }},

outcomes as (
    select
        claims.claim_key,
        claims.claim_id,
        claims.source_system,
        coalesce(claims.payer_name, 'Unknown') as payer_name,
        claims.payer_type,
        claims.department_key,
        claims.service_date,
        coalesce(claims.claim_date, version_marks.first_known_date) as submission_date,
        marked_versions.latest_claim_status as claim_status,
        marked_versions.latest_kpi_outcome as current_outcome,
        marked_versions.latest_known_date as status_date,
        marked_versions.first_response_outcome,
        marked_versions.first_adjudication_outcome,
        marked_versions.first_adjudication_date,
        case
            when marked_versions.first_adjudication_outcome = 'denied'
                then marked_versions.first_adjudication_denial_reason_code
        end as initial_denial_reason_code,
        version_marks.first_paid_date,
        version_marks.rejected_versions,
        version_marks.denied_versions,
        coalesce(marked_versions.latest_claim_amount, claims.claim_amount, 0) as claim_amount,
        coalesce(marked_versions.latest_paid_amount, 0) as paid_amount,
        case
            when
                marked_versions.latest_kpi_outcome = 'accepted'
                and marked_versions.latest_allowed_amount < marked_versions.latest_claim_amount
                then marked_versions.latest_claim_amount - marked_versions.latest_allowed_amount
            else 0
        end as contractual_adjustment_amount
    from claims
    inner join version_marks on claims.claim_id = version_marks.claim_id
    inner join marked_versions on claims.claim_id = marked_versions.claim_id
),

final as (
    select
        -- keys
        claim_key,
        claim_id,
        source_system,
        payer_name,
        payer_type,
        department_key,
        -- cohorts
        cast({{ dbt.date_trunc('month', 'service_date') }} as date) as service_month_start_date,
        cast({{ dbt.date_trunc('month', 'submission_date') }} as date) as submission_month_start_date,
        -- dates
        service_date,
        submission_date,
        status_date,
        first_adjudication_date,
        first_paid_date,
        -- status as of the as-of date
        claim_status,
        current_outcome,
        first_response_outcome,
        first_adjudication_outcome,
        initial_denial_reason_code,
        -- KPI flags
        case when first_adjudication_outcome is not null then {{ bool_true() }} else {{ bool_false() }} end
            as is_adjudicated,
        case when first_adjudication_outcome = 'denied' then {{ bool_true() }} else {{ bool_false() }} end
            as is_initially_denied,
        case when current_outcome = 'denied' then {{ bool_true() }} else {{ bool_false() }} end
            as is_finally_denied,
        case when rejected_versions = 1 then {{ bool_true() }} else {{ bool_false() }} end
            as was_rejected,
        case
            when first_response_outcome = 'accepted' and rejected_versions = 0 and denied_versions = 0
                then {{ bool_true() }}
            else {{ bool_false() }}
        end as is_clean_claim,
        case when first_paid_date is not null then {{ bool_true() }} else {{ bool_false() }} end
            as is_paid,
        {{ dbt.datediff('submission_date', 'first_paid_date', 'day') }}
            as days_to_payment,
        -- amounts known by the as-of date
        cast(claim_amount as decimal(18, 2)) as claim_amount,
        cast(paid_amount as decimal(18, 2)) as paid_amount,
        cast(contractual_adjustment_amount as decimal(18, 2)) as contractual_adjustment_amount,
        {{ processed_at() }} as processed_at
    from outcomes
)

select * from final
