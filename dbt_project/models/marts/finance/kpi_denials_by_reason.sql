-- One row per submission month x hospital x payer x department x denial reason: claims whose
-- first adjudication was a denial (by the reason of that denial), the dollars at risk (their
-- claim amount) and how many are still denied at the as-of date. The claim's department is
-- fct_claims', as in kpi_monthly; every measure is a count or an amount, so summing out the
-- department gives the figures per month x hospital x payer x reason.
with

claim_outcomes as (
    select * from {{ ref('int_claim_kpi_outcomes') }}
    where {{ is_true('is_initially_denied') }}
),

departments as (
    select * from {{ ref('dim_department') }}
),

denials as (
    select
        submission_month_start_date as month_start_date,
        source_system,
        payer_name,
        department_key,
        coalesce(initial_denial_reason_code, 'unknown') as denial_reason_code,
        count(*) as denied_claims,
        sum(claim_amount) as dollars_at_risk_amount,
        sum(case when {{ is_true('is_finally_denied') }} then 1 else 0 end) as still_denied_claims,
        sum(case when {{ is_true('is_finally_denied') }} then claim_amount else 0 end)
            as still_denied_amount
    from claim_outcomes
    group by
        submission_month_start_date,
        source_system,
        payer_name,
        department_key,
        coalesce(initial_denial_reason_code, 'unknown')
),

final as (
    select
        {{ surrogate_key([
            'denials.month_start_date', 'denials.source_system', 'denials.payer_name',
            'denials.department_key', 'denials.denial_reason_code',
        ]) }} as kpi_denials_by_reason_key,
        denials.month_start_date,
        denials.source_system,
        denials.payer_name,
        denials.department_key,
        coalesce(departments.department_name, 'Unknown') as department_name,
        denials.denial_reason_code,
        denials.denied_claims,
        cast(denials.dollars_at_risk_amount as decimal(18, 2)) as dollars_at_risk_amount,
        cast(denials.still_denied_claims as {{ dbt.type_int() }}) as still_denied_claims,
        cast(denials.still_denied_amount as decimal(18, 2)) as still_denied_amount
    from denials
    left join departments on denials.department_key = departments.department_key
)

select * from final
