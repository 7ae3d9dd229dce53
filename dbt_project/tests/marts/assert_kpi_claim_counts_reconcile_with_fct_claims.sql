-- Claim counts reconcile, per hospital: in kpi_monthly, claims accepted + finally denied +
-- pending + rejected at the as-of date = claims submitted; and each count equals the number of
-- fct_claims rows with that current outcome (fct_claims holds the latest state, so the second
-- check applies at the default as-of date, the latest claim modified date); so does the count
-- of clean claims, which fct_claims.is_clean_claim must define as the clean claim rate does.
-- Returns the hospitals and outcomes that differ.
with

monthly as (
    select
        source_system,
        sum(claims_submitted) as claims_submitted,
        sum(claims_currently_accepted) as accepted,
        sum(claims_finally_denied) as denied,
        sum(claims_currently_pending) as pending,
        sum(claims_currently_rejected) as rejected,
        sum(clean_claims) as clean
    from {{ ref('kpi_monthly') }}
    group by source_system
),

monthly_outcomes as (
    select source_system, 'accepted' as outcome, accepted as kpi_claims from monthly
    union all
    select source_system, 'denied' as outcome, denied as kpi_claims from monthly
    union all
    select source_system, 'pending' as outcome, pending as kpi_claims from monthly
    union all
    select source_system, 'rejected' as outcome, rejected as kpi_claims from monthly
    union all
    select source_system, 'submitted' as outcome, claims_submitted as kpi_claims from monthly
    union all
    select source_system, 'clean' as outcome, clean as kpi_claims from monthly
    union all
    select
        source_system,
        'sum_of_outcomes' as outcome,
        accepted + denied + pending + rejected as kpi_claims
    from monthly
),

claims as (
    select source_system, current_outcome as outcome, count(*) as fct_claims
    from {{ ref('fct_claims') }}
    group by source_system, current_outcome
    union all
    select source_system, 'submitted' as outcome, count(*) as fct_claims
    from {{ ref('fct_claims') }}
    group by source_system
    union all
    select source_system, 'sum_of_outcomes' as outcome, count(*) as fct_claims
    from {{ ref('fct_claims') }}
    group by source_system
    union all
    select source_system, 'clean' as outcome, count(*) as fct_claims
    from {{ ref('fct_claims') }}
    where {{ is_true('is_clean_claim') }}
    group by source_system
),

compared as (
    select
        coalesce(monthly_outcomes.source_system, claims.source_system) as source_system,
        coalesce(monthly_outcomes.outcome, claims.outcome) as outcome,
        coalesce(monthly_outcomes.kpi_claims, 0) as kpi_claims,
        coalesce(claims.fct_claims, 0) as fct_claims
    from monthly_outcomes
    full outer join claims
        on
            monthly_outcomes.source_system = claims.source_system
            and monthly_outcomes.outcome = claims.outcome
)

select *
from compared
where
    {%- if var('alerts_as_of_date', none) %}
        -- an earlier as-of date: fct_claims is later than the KPIs, only the identity holds
        outcome = 'sum_of_outcomes'
        and kpi_claims <> (
            select sum(submitted.claims_submitted) from monthly as submitted
            where submitted.source_system = compared.source_system
        )
    {%- else %}
        kpi_claims <> fct_claims
    {%- endif %}
