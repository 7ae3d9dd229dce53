-- One row per month end x hospital x payer x department x aging bucket: the open claims of
-- fct_ar_snapshots and their balances, summed once for the two marts that report A/R
-- (kpi_ar_aging at this grain, kpi_monthly without the bucket) instead of one pass over
-- every snapshot row (43 M at scale 10) for each of them.
with

ar_snapshots as (
    select * from {{ ref('fct_ar_snapshots') }}
),

final as (
    select
        -- grain
        month_end_date,
        source_system,
        coalesce(payer_name, 'Unknown') as payer_name,
        department_key,
        aging_bucket,
        -- open claims and their balances
        count(*) as claims,
        cast(sum(payer_balance_amount) as decimal(18, 2)) as payer_balance_amount,
        cast(sum(patient_balance_amount) as decimal(18, 2)) as patient_balance_amount,
        cast(sum(open_balance_amount) as decimal(18, 2)) as open_balance_amount,
        cast(sum(case when age_days > 90 then open_balance_amount else 0 end) as decimal(18, 2))
            as over_90_balance_amount
    from ar_snapshots
    group by
        month_end_date,
        source_system,
        coalesce(payer_name, 'Unknown'),
        department_key,
        aging_bucket
)

select * from final
