-- One row per submission month x hospital x payer x denial reason: claims whose first
-- adjudication was a denial (by the reason of that denial), the dollars at risk (their claim
-- amount) and how many are still denied at the as-of date.
with

claim_outcomes as (
    select * from {{ ref('int_claim_kpi_outcomes') }}
    where {{ is_true('is_initially_denied') }}
),

final as (
    select
        {{ surrogate_key([
            'submission_month_start_date', 'source_system', 'payer_name',
            "coalesce(initial_denial_reason_code, 'unknown')",
        ]) }} as kpi_denials_by_reason_key,
        submission_month_start_date as month_start_date,
        source_system,
        payer_name,
        coalesce(initial_denial_reason_code, 'unknown') as denial_reason_code,
        count(*) as denied_claims,
        cast(sum(claim_amount) as decimal(18, 2)) as dollars_at_risk_amount,
        cast(sum(case when {{ is_true('is_finally_denied') }} then 1 else 0 end) as {{ dbt.type_int() }})
            as still_denied_claims,
        cast(sum(case when {{ is_true('is_finally_denied') }} then claim_amount else 0 end) as decimal(18, 2))
            as still_denied_amount
    from claim_outcomes
    group by
        submission_month_start_date,
        source_system,
        payer_name,
        coalesce(initial_denial_reason_code, 'unknown')
)

select * from final
