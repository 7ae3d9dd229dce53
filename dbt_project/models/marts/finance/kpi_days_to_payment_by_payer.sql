-- One row per submission month x hospital x payer with paid claims: paid claims and the average
-- number of days from submission to the first payment.
with

claim_outcomes as (
    select * from {{ ref('int_claim_kpi_outcomes') }}
    where {{ is_true('is_paid') }}
),

final as (
    select
        {{ surrogate_key(['submission_month_start_date', 'source_system', 'payer_name']) }}
            as kpi_days_to_payment_by_payer_key,
        submission_month_start_date as month_start_date,
        source_system,
        payer_name,
        count(*) as paid_claims,
        cast(sum(days_to_payment) as {{ dbt.type_int() }}) as days_to_payment_sum,
        cast(1.0 * sum(days_to_payment) / count(*) as decimal(18, 2)) as avg_days_to_payment
    from claim_outcomes
    group by submission_month_start_date, source_system, payer_name
)

select * from final
