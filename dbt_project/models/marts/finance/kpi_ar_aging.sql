-- One row per month end x hospital x payer x aging bucket: open claims and their open balance
-- (fct_ar_snapshots summed, through int_ar_month_end_balances; the buckets of a month end sum
-- to its total A/R).
with

balances as (
    select * from {{ ref('int_ar_month_end_balances') }}
),

final as (
    select
        {{ surrogate_key(['month_end_date', 'source_system', 'payer_name', 'aging_bucket']) }}
            as kpi_ar_aging_key,
        month_end_date,
        source_system,
        payer_name,
        aging_bucket,
        cast(sum(claims) as {{ dbt.type_bigint() }}) as claims,
        cast(sum(payer_balance_amount) as decimal(18, 2)) as payer_balance_amount,
        cast(sum(patient_balance_amount) as decimal(18, 2)) as patient_balance_amount,
        cast(sum(open_balance_amount) as decimal(18, 2)) as open_balance_amount
    from balances
    group by month_end_date, source_system, payer_name, aging_bucket
)

select * from final
