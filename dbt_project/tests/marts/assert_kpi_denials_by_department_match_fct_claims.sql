-- kpi_denials_by_reason, per submission month x hospital x payer x department x reason, counts
-- the claims whose first adjudication was a denial in the slice fct_claims gives the claim:
-- the outcome (first adjudication, its reason, still denied) comes from
-- int_claim_kpi_outcomes, where that rule lives, but the month (claim date), payer and
-- department are fct_claims' own, so a claim counted under another department's denials
-- fails here. Claims, dollars at risk and still-denied claims and dollars are compared.
-- Returns the rows that differ.
with

mart as (
    select
        month_start_date,
        source_system,
        payer_name,
        department_key,
        denial_reason_code,
        denied_claims,
        dollars_at_risk_amount,
        still_denied_claims,
        still_denied_amount
    from {{ ref('kpi_denials_by_reason') }}
),

claims as (
    select * from {{ ref('fct_claims') }}
),

outcomes as (
    select * from {{ ref('int_claim_kpi_outcomes') }}
),

facts as (
    select
        cast({{ dbt.date_trunc('month', 'coalesce(claims.claim_date, outcomes.submission_date)') }} as date)
            as month_start_date,
        claims.source_system,
        coalesce(claims.payer_name, 'Unknown') as payer_name,
        claims.department_key,
        coalesce(outcomes.initial_denial_reason_code, 'unknown') as denial_reason_code,
        count(*) as denied_claims,
        sum(outcomes.claim_amount) as dollars_at_risk_amount,
        sum(case when {{ is_true('outcomes.is_finally_denied') }} then 1 else 0 end) as still_denied_claims,
        sum(case when {{ is_true('outcomes.is_finally_denied') }} then outcomes.claim_amount else 0 end)
            as still_denied_amount
    from outcomes
    inner join claims on outcomes.claim_key = claims.claim_key
    where {{ is_true('outcomes.is_initially_denied') }}
    group by
        cast({{ dbt.date_trunc('month', 'coalesce(claims.claim_date, outcomes.submission_date)') }} as date),
        claims.source_system,
        coalesce(claims.payer_name, 'Unknown'),
        claims.department_key,
        coalesce(outcomes.initial_denial_reason_code, 'unknown')
),

compared as (
    select
        coalesce(mart.month_start_date, facts.month_start_date) as month_start_date,
        coalesce(mart.source_system, facts.source_system) as source_system,
        coalesce(mart.payer_name, facts.payer_name) as payer_name,
        coalesce(mart.department_key, facts.department_key) as department_key,
        coalesce(mart.denial_reason_code, facts.denial_reason_code) as denial_reason_code,
        coalesce(mart.denied_claims, 0) as mart_denied_claims,
        coalesce(facts.denied_claims, 0) as fact_denied_claims,
        coalesce(mart.dollars_at_risk_amount, 0) as mart_dollars_at_risk_amount,
        coalesce(facts.dollars_at_risk_amount, 0) as fact_dollars_at_risk_amount,
        coalesce(mart.still_denied_claims, 0) as mart_still_denied_claims,
        coalesce(facts.still_denied_claims, 0) as fact_still_denied_claims,
        coalesce(mart.still_denied_amount, 0) as mart_still_denied_amount,
        coalesce(facts.still_denied_amount, 0) as fact_still_denied_amount
    from mart
    full outer join facts
        on
            mart.month_start_date = facts.month_start_date
            and mart.source_system = facts.source_system
            and mart.payer_name = facts.payer_name
            and mart.department_key = facts.department_key
            and mart.denial_reason_code = facts.denial_reason_code
)

select *
from compared
where
    mart_denied_claims <> fact_denied_claims
    or abs(mart_dollars_at_risk_amount - fact_dollars_at_risk_amount) >= 0.01
    or mart_still_denied_claims <> fact_still_denied_claims
    or abs(mart_still_denied_amount - fact_still_denied_amount) >= 0.01
