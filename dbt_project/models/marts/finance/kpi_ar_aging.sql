-- One row per month end x hospital x payer x department x aging bucket: open claims and their
-- open balance (fct_ar_snapshots summed, through int_ar_month_end_balances, by the claim's
-- department as kpi_monthly's A/R is; the buckets of a month end sum to its total A/R, and
-- summing out the department gives the figures per month end x hospital x payer x bucket).
with

balances as (
    select * from {{ ref('int_ar_month_end_balances') }}
),

departments as (
    select * from {{ ref('dim_department') }}
),

final as (
    select
        {{ surrogate_key([
            'balances.month_end_date', 'balances.source_system', 'balances.payer_name',
            'balances.department_key', 'balances.aging_bucket',
        ]) }} as kpi_ar_aging_key,
        balances.month_end_date,
        balances.source_system,
        balances.payer_name,
        balances.department_key,
        coalesce(departments.department_name, 'Unknown') as department_name,
        balances.aging_bucket,
        cast(balances.claims as {{ dbt.type_bigint() }}) as claims,
        cast(balances.payer_balance_amount as decimal(18, 2)) as payer_balance_amount,
        cast(balances.patient_balance_amount as decimal(18, 2)) as patient_balance_amount,
        cast(balances.open_balance_amount as decimal(18, 2)) as open_balance_amount
    from balances
    left join departments on balances.department_key = departments.department_key
)

select * from final
