-- One row per month end x hospital x payer x aging bucket: open claims and their open balance
-- (from fct_ar_snapshots; the buckets of a month end sum to its total A/R).
with

ar_snapshots as (
    select * from {{ ref('fct_ar_snapshots') }}
),

final as (
    select
        {{ surrogate_key(['month_end_date', 'source_system', "coalesce(payer_name, 'Unknown')", 'aging_bucket']) }}
            as kpi_ar_aging_key,
        month_end_date,
        source_system,
        coalesce(payer_name, 'Unknown') as payer_name,
        aging_bucket,
        count(*) as claims,
        cast(sum(payer_balance_amount) as decimal(18, 2)) as payer_balance_amount,
        cast(sum(patient_balance_amount) as decimal(18, 2)) as patient_balance_amount,
        cast(sum(open_balance_amount) as decimal(18, 2)) as open_balance_amount
    from ar_snapshots
    group by month_end_date, source_system, coalesce(payer_name, 'Unknown'), aging_bucket
)

select * from final
