-- One row per submission month x hospital x payer x department with paid claims: paid claims,
-- their summed days from submission to the first payment and the average (the claim's
-- department from fct_claims, as kpi_monthly's; to re-aggregate over departments or months,
-- divide the summed days_to_payment_sum by the summed paid_claims, never average the averages).
with

claim_outcomes as (
    select * from {{ ref('int_claim_kpi_outcomes') }}
    where {{ is_true('is_paid') }}
),

departments as (
    select * from {{ ref('dim_department') }}
),

paid as (
    select
        submission_month_start_date as month_start_date,
        source_system,
        payer_name,
        department_key,
        count(*) as paid_claims,
        sum(days_to_payment) as days_to_payment_sum
    from claim_outcomes
    group by submission_month_start_date, source_system, payer_name, department_key
),

final as (
    select
        {{ surrogate_key([
            'paid.month_start_date', 'paid.source_system', 'paid.payer_name', 'paid.department_key',
        ]) }} as kpi_days_to_payment_by_payer_key,
        paid.month_start_date,
        paid.source_system,
        paid.payer_name,
        paid.department_key,
        coalesce(departments.department_name, 'Unknown') as department_name,
        paid.paid_claims,
        cast(paid.days_to_payment_sum as {{ dbt.type_int() }}) as days_to_payment_sum,
        cast(1.0 * paid.days_to_payment_sum / paid.paid_claims as decimal(18, 2)) as avg_days_to_payment
    from paid
    left join departments on paid.department_key = departments.department_key
)

select * from final
